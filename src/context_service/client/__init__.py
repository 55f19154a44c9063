"""Client libraries of the service's gRPC APIs, for the programs that use them."""
