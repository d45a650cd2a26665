"""Console pages: integrations (to be built)."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
