"""flowser: Amazon SWF deciders and activity workers in Python."""

__version__ = "0.2.0.dev0"

from . import exceptions, serializing, tasks, types
from .domain import Domain

__all__ = ["Domain", "__version__", "exceptions", "serializing", "tasks", "types"]
