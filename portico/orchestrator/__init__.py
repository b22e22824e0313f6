"""The amphora provider: boots amphorae, renders and pushes their configuration."""
