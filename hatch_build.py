"""Build hook: generate the gRPC stubs into src/ before the wheel is assembled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class GenerateProtos(BuildHookInterface):  # type: ignore[type-arg]
    """Run generate-protos.sh so every build ships fresh fleet.context.v1 stubs."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Generate the stubs with the build environment's interpreter."""
        root = Path(self.root)
        env = {**os.environ, "PYTHON": sys.executable}
        subprocess.run(["bash", str(root / "generate-protos.sh")], check=True, env=env, cwd=root)
