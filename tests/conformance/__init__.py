"""Conformance suites: one test body run against every adapter of a port."""
