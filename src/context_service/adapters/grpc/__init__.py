"""gRPC edge: servicer, proto<->domain mappers, the status-code table and the server factory."""
