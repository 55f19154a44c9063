"""Adapters: inbound edges (gRPC) and outbound implementations of the ports."""
