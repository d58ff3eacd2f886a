"""django-dramaturg: Dramatiq over Redis for Django (owed work never lost, never sent twice)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("django-dramaturg")  # one place: the distribution's pyproject.toml
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"
