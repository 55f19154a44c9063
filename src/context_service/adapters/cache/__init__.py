"""Per-process cache adapters (cachetools)."""
