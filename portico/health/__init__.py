"""Heartbeat receiver, status roll-up, staleness and failover (health issue)."""
