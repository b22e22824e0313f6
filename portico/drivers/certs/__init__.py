"""Certificates: the controller's local CA for agent mTLS, and the TLS material of listeners."""
