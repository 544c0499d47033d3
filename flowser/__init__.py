"""flowser: Amazon SWF deciders and activity workers in Python."""

__version__ = "0.2.0.dev0"
