"""Console pages: audit (to be built)."""

from litestar import Controller

CONTROLLERS: list[type[Controller]] = []
