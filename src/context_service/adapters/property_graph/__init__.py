"""A small property graph and its projections into domain snapshots, shared by every graph adapter."""
