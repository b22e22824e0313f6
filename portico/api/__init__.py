"""HTTP edge: the Octavia v2 user API, the admin API, auth and error rendering."""
