"""Graph port conformance suite: every graph adapter passes the same behavioural tests."""
