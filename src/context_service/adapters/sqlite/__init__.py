"""SQLite adapters: the durable single-node key-value store."""
