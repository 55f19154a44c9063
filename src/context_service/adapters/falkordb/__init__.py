"""Graph ports on FalkorDB."""
