#!/usr/bin/env bash
# Create ./.venv (python3 -m venv) and install the pinned Python tools from
# scripts/requirements.txt. Idempotent: when .venv/.requirements.sha256 holds
# the hash of the current requirements file (and of the interpreter), nothing
# is done.
#
# Usage: scripts/setup-venv.sh [--force]
#   PYTHON=python3.11 scripts/setup-venv.sh   to choose the interpreter
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-venv: $python not found" >&2
    exit 1
fi

want="$( { sha256sum "$req" | cut -d' ' -f1; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ "${1:-}" != "--force" && -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-venv: creating $venv"
    "$python" -m venv "$venv"
fi

echo "setup-venv: installing pinned packages from scripts/requirements.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
"$venv/bin/python" -c 'import onnx, onnxruntime, numpy, sklearn' || {
    echo "setup-venv: installed packages fail to import" >&2
    exit 1
}
echo "$want" > "$stamp"
echo "setup-venv: ready ($venv)"
