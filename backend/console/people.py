"""Console pages: people (to be built)."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
