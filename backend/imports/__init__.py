"""CSV imports of courses and people (see services.py)."""
