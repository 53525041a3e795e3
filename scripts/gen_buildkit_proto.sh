#!/bin/sh
# Regenerates src/dockyard/api/buildkit/wire_pb2.py(i) from wire.proto with grpcio-tools (the
# `test` extra); tests/unit/test_buildkit_wire.py fails when the committed modules are stale.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m grpc_tools.protoc -I src --python_out=src --pyi_out=src src/dockyard/api/buildkit/wire.proto
