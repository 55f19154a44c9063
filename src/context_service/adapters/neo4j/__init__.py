"""Graph ports on Neo4j 5."""
