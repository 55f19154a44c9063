"""In-memory adapters: the zero-dependency run mode and the fakes of the unit tests."""
