"""flowser: Amazon SWF deciders and activity workers in Python."""

__version__ = "0.2.0.dev0"

from . import exceptions, serializing, tasks, types
from .domain import Domain
from .retry import RetryPolicy

__all__ = ["Domain", "RetryPolicy", "__version__", "exceptions", "serializing", "tasks", "types"]
