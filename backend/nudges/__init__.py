"""Nudges: the scheduler tick (policy -> outbox rows), click and learned-within-24h measurement."""
