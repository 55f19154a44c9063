"""Shared test support: fakes of our own ports and the in-process service harness."""
