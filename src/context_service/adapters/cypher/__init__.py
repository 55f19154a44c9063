"""The Cypher catalogue, commit planning and the engine-independent graph adapter."""
