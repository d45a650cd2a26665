"""The L&D console: server-rendered pages over the same services as the JSON API."""
