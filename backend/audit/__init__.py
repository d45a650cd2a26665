"""The audit log of L&D actions (see services)."""
