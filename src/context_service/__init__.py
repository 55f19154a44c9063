"""Context Service: role- and phase-scoped prompt context for AI coding agents."""

__version__ = "0.1.0"
