"""The amphora agent: runs inside an amphora; imports portico.wire only (amphora issue)."""
