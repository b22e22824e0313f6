"""Drivers behind typed Protocols, loaded by entry point: providers, compute, certificates."""
