"""Pure rendering of haproxy and keepalived configurations (amphora issue)."""
