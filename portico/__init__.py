"""portico: load balancing as a service, speaking the OpenStack Octavia v2 API."""

__version__ = "0.1.0"
