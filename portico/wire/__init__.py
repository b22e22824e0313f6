"""Versioned agent-API and heartbeat schemas shared by controller and agent."""
