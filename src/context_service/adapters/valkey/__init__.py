"""Valkey adapters: the pooled client, the key-value store and the planning read-models."""
