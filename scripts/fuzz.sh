#!/usr/bin/env bash
# Runs every fuzz target of crates/optimize-fuzz for SECONDS_PER_TARGET (default 600) in release
# mode, one after the other, each in its own process (an abort in one does not stop the rest),
# and prints the executions, outcomes and panics of each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   FUZZ_TARGETS="load data" scripts/fuzz.sh 60      only some targets
#   FUZZ_FIRST_SEED=5000000000 scripts/fuzz.sh        repeat a run (its first seed is printed)
#
# Crashing inputs are saved under crates/optimize-fuzz/crashes/<target>-<seed>.onnx (or a folder
# for calibration data); reproduce one with
#   cargo run -p optimize-fuzz -- one <target> <seed>
# and, once fixed, move it to crates/optimize-fuzz/regressions/, which the tests replay.
# An execution running past 30 s is a hang: the run names its seed and stops.
# The tests run the same targets for OPTIMIZE_FUZZ_SECONDS (default 8) in debug builds.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-600}"
read -r -a targets <<<"${FUZZ_TARGETS:-load data quantize-dynamic quantize-static fp16 prune}"
first_seed="${FUZZ_FIRST_SEED:-$(( $(date +%s) << 20 ))}"

cargo build --release -q -p optimize-fuzz || exit 1
bin=target/release/optimize-fuzz
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
summary=()
for t in "${targets[@]}"; do
    echo "== $t (${seconds}s, first seed $first_seed)"
    "$bin" run --seconds "$seconds" --targets "$t" --first-seed "$first_seed" | tee "$out"
    rc="${PIPESTATUS[0]}"
    line="$(grep -E "^$t " "$out" | tail -1)"
    if [ "$rc" -ne 0 ]; then
        status=1
        inflight="crates/optimize-fuzz/crashes/$t.inflight"
        if [ -z "$line" ]; then
            line="$t: the run stopped (exit $rc)"
            [ -f "$inflight" ] && line="$line while running seed $(cat "$inflight")"
        fi
    fi
    summary+=("$line")
done
echo
echo "summary ($seconds s per target, first seed $first_seed):"
printf '%s\n' "${summary[@]}"
exit "$status"
