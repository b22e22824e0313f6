"""Request and response shapes of the Octavia v2 API (pydantic), one module per resource."""
