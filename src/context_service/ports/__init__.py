"""Outbound ports: small async Protocols, one capability each, speaking domain types only."""
