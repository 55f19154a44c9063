"""Logging, metrics and tracing set-up; imports config only."""
