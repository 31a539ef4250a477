"""The package's version, in one place: the distribution reads it from here (pyproject.toml) and results record it."""

__version__ = "0.1.0"
