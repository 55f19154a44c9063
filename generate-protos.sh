#!/usr/bin/env bash
# Generate the Python stubs of every .proto under specs/ into src/ (gitignored build output).
# The -I root is specs/, so the generated modules import as fleet.context.v1.context_pb2.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
out="${1:-$here/src}"
mkdir -p "$out"
# The mypy-protobuf plugins: beside the interpreter (a venv), else on PATH (pip's isolated build env).
bindir="$("$python" -c 'import os, sys; print(os.path.dirname(sys.executable))')"
plugin() {
  if [ -x "$bindir/$1" ]; then echo "$bindir/$1"; else command -v "$1"; fi
}
mapfile -t protos < <(cd "$here/specs" && find . -name '*.proto' | sed 's|^\./||' | sort)
(cd "$here/specs" && "$python" -m grpc_tools.protoc -I . \
  --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-mypy="$(plugin protoc-gen-mypy)" --plugin=protoc-gen-mypy_grpc="$(plugin protoc-gen-mypy_grpc)" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  "${protos[@]}")
# Package markers so the stubs import as regular packages (and ship inside the wheel).
for proto in "${protos[@]}"; do
  dir="$(dirname "$proto")"
  while [ "$dir" != "." ]; do
    touch "$out/$dir/__init__.py"
    dir="$(dirname "$dir")"
  done
done
touch "$out/fleet/py.typed"
echo "generated stubs for ${#protos[@]} proto file(s) into $out"
