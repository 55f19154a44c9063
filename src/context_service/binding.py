"""The one error for a port this process cannot listen on: the gRPC port, the metrics port, or the port a
supervisor of `serve --workers N` holds for its workers. The command line reports it in one line (exit 2)."""

from __future__ import annotations


class PortTaken(Exception):
    """A port this process listens on cannot be bound (taken, or not an address of this host)."""
