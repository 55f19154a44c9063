"""Every benchmark module imports: `make bench` and its siblings run them outside the test suite."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(info.name for info in pkgutil.iter_modules(bench.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")

    assert module.__name__ == f"bench.{name}"
