"""Use cases: one module each, one class with `async def execute(...)`; domain and ports only."""
