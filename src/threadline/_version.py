"""threadline's version: one source, read by the package and by hatchling."""

__version__ = "0.1.0"
