"""Routers of the Octavia v2 API; each is mounted under both /v2 and /v2.0."""
