#!/usr/bin/env python3
"""Real printed-text inputs for the PaddleOCR models (bench-only data source).

Uniform noise is a poor stand-in for a photo of text: on noise the PP-OCRv4 detector's
probability map is close to zero everywhere and the recognizer predicts blanks, so the
cosine/top-1 fidelity numbers of the quantization benches say little. This module builds
inputs from one real image instead:

  source  `skimage/data/page.png` (384x191, 8-bit grey: a photographed book page, a heading,
          five lines of body text and a line of code) inside the scikit-image 0.26.0 wheel on
          PyPI. The wheel is fetched once with `pip download` into target/bench-data/wheels/
          (pinned file name and sha256; nothing else is installed, nothing is downloaded at
          run time after that) and the PNG is read straight out of the zip and decoded here
          with zlib + numpy (no Pillow, no scikit-image import). Its sha256 is checked.

  det     (ppocr-v4-det, [1,3,H,W], H and W multiples of 32) the page scaled by a random
          factor so that it covers HxW, then a random HxW crop; ImageNet normalisation
          (x/255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225], as PaddleOCR's DetResizeForTest +
          NormalizeImage.
  rec     (ppocr-v4-rec, [1,3,48,W]) a random window of one of the page's text lines (line boxes
          measured once on this exact image; window ends snapped to an ink-free column nearby
          when there is one), aspect ratio between W/96 and W/48, resized to height 48 keeping the
          aspect ratio, right-padded with 0 (after normalisation) to W; normalisation
          (x/255 - 0.5) / 0.5, as PaddleOCR's resize_norm_img.
  cls     (ppocr-cls-mobile-v2, [1,3,48,W]) the same kind of line window (aspect W/96 to W/48),
          turned by 180 degrees with probability 1/2 (the classifier's two classes), same
          resize/pad/normalisation.

Grey is replicated to 3 channels (RGB == BGR here), layout NCHW float32. Each sample draws its
own crop from numpy.random.default_rng(seed), so samples differ and a given (model, n, seed)
always gives the same arrays.

  .venv/bin/python benches/ocr_images.py            # fetch + check the wheel and the image
  .venv/bin/python benches/ocr_images.py --check    # also run the fp32 models in ONNX Runtime
                                                    # on a few samples and print output stats
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import pinned  # noqa: E402  (scripts/pinned.py: hashing and fetching pinned files)

WHEELS = ROOT / "target" / "bench-data" / "wheels"

PACKAGE = "scikit-image==0.26.0"
# One specific wheel of that release, so the file and its hash are the same on every machine
# (the PNG inside is the same in every wheel of the release; the platform flags only pick one).
WHEEL = "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af"
PLATFORM_ARGS = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                 "--implementation", "cp", "--abi", "cp311"]
MEMBER = "skimage/data/page.png"
MEMBER_SHA256 = "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"
PAGE_SHAPE = (191, 384)

# Text-line boxes (y0, y1, x0, x1; end-exclusive) measured on page.png. The page is curved and
# the lines tilt a little, so the boxes have a few pixels of margin and may touch the
# ascenders/descenders of the neighbouring line, as a detector's boxes do.
LINES = [
    (8, 38, 0, 296),     # "Region-based segmentation" (heading)
    (45, 68, 0, 380),    # "Let us first determine markers of the coins and the"
    (63, 86, 0, 384),    # "background. These markers are pixels that we can label"
    (81, 103, 0, 384),   # "unambiguously as either object or background. Here,"
    (99, 121, 0, 384),   # "the markers are found at the two extreme parts of the"
    (116, 138, 0, 174),  # "histogram of grey values:"
    (167, 189, 14, 244),  # ">>> markers = np.zeros_like(coins)"
]

DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# manifest model name -> kind of PaddleOCR input
KINDS = {"ppocr-v4-det": "det", "ppocr-v4-rec": "rec", "ppocr-cls-mobile-v2": "cls"}


def is_ocr(name):
    return name in KINDS


def describe():
    return f"{MEMBER} of {PACKAGE} (sha256 {MEMBER_SHA256[:16]}…)"


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def ensure_wheel(quiet=True):
    """Path of the pinned scikit-image wheel, downloaded (pip download, no install) if needed."""
    try:
        wheel, downloaded = pinned.fetch_wheel(PACKAGE, WHEEL, WHEEL_SHA256, WHEELS,
                                               pip_args=PLATFORM_ARGS, quiet=quiet, who="ocr_images")
    except pinned.FetchError as e:
        raise RuntimeError(f"{e}\nthe PaddleOCR benches need {MEMBER} of {WHEEL} in {WHEELS} "
                           "(PyPI must be reachable once; or copy the wheel there by hand)")
    if downloaded:
        print(f"ocr_images: fetched the bench text image's wheel {WHEEL}", file=sys.stderr)
    return wheel


def decode_png(data):
    """Minimal PNG decoder: 8-bit, non-interlaced, grey / grey+alpha / RGB / RGBA.
    Returns uint8 [H, W] or [H, W, C]."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif typ == b"IDAT":
            idat.append(body)
        elif typ == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _comp, _filt, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {ctype}, interlace {interlace})")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, 1 + w * channels)
    bpp, stride = channels, w * channels
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:  # Up
            cur = (line + prev) & 0xFF
        else:  # Sub, Average, Paeth depend on the bytes already decoded on this row
            cur = np.zeros(stride, dtype=np.int32)
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) >> 1
                elif f == 4:
                    c = prev[i - bpp] if i >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    raise ValueError(f"bad PNG filter {f}")
                cur[i] = (line[i] + p) & 0xFF
        out[y] = cur
        prev = cur
    return out.reshape(h, w) if channels == 1 else out.reshape(h, w, channels)


_PAGE = None


def page_image():
    """page.png as uint8 [191, 384] (grey), read from the (fetched) wheel; cached."""
    global _PAGE
    if _PAGE is None:
        with zipfile.ZipFile(ensure_wheel()) as z:
            data = z.read(MEMBER)
        got = _sha256(data)
        if got != MEMBER_SHA256:
            raise RuntimeError(f"{MEMBER} in {WHEEL}: sha256 {got}, expected {MEMBER_SHA256}")
        img = decode_png(data)
        if img.shape != PAGE_SHAPE:
            raise RuntimeError(f"{MEMBER}: shape {img.shape}, expected {PAGE_SHAPE}")
        _PAGE = img
    return _PAGE


def resize(img, h, w):
    """Bilinear resize of a 2-D float image (half-pixel centres, like cv2.INTER_LINEAR)."""
    H, W = img.shape

    def axis(n_out, n_in):
        x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0, n_in - 1)
        i0 = np.floor(x).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (x - i0).astype(np.float32)

    y0, y1, fy = axis(h, H)
    x0, x1, fx = axis(w, W)
    rows = img[y0] * (1 - fy)[:, None] + img[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx)[None, :] + rows[:, x1] * fx[None, :]


_INK = None


def ink_columns():
    """bool [H, W]: dark ink relative to the local paper brightness (the page is unevenly lit)."""
    global _INK
    if _INK is None:
        from numpy.lib.stride_tricks import sliding_window_view

        a = page_image().astype(np.float32)
        p = np.pad(a, ((8, 8), (16, 16)), mode="edge")
        paper = sliding_window_view(p, (17, 33)).max(axis=(2, 3))
        _INK = a < paper - 40
    return _INK


def _snap(x, lo, hi, free):
    """x moved to the nearest ink-free column within 6 px (inside [lo, hi)), else x."""
    for d in range(7):
        for c in (x - d, x + d):
            if lo <= c < hi and free[c]:
                return c
    return x


def line_crop(rng, max_aspect, min_aspect=1.5):
    """A float32 grey crop [h, w] of one text line, w/h in [min_aspect, max_aspect] (or the
    whole line if it is shorter)."""
    img = page_image()
    y0, y1, x0, x1 = LINES[rng.integers(len(LINES))]
    jt, jb = rng.integers(-2, 3, size=2)
    y0, y1 = max(0, y0 + jt), min(img.shape[0], y1 + jb)
    h = y1 - y0
    free = ~ink_columns()[y0:y1].any(axis=0)
    line_w = x1 - x0
    w = int(round(h * rng.uniform(min_aspect, max_aspect)))
    w = min(w, line_w)
    a = x0 + int(rng.integers(0, line_w - w + 1))
    b = a + w
    a2, b2 = _snap(a, x0, a + w // 2, free), _snap(b, a + w // 2 + 1, x1 + 1, free)
    # Snapping may widen the window a little; keep it within the aspect limit.
    if (b2 - a2) <= h * max_aspect:
        a, b = a2, b2
    return img[y0:y1, a:b].astype(np.float32)


def _to_nchw(grey):
    return np.repeat(grey[None, None], 3, axis=1).astype(np.float32)


def det_sample(rng, H, W):
    img = page_image().astype(np.float32)
    ph, pw = img.shape
    smin = max(H / ph, W / pw) * 1.02
    s = rng.uniform(smin, smin * 1.6)
    sh, sw = int(np.ceil(ph * s)), int(np.ceil(pw * s))
    big = resize(img, sh, sw)
    y = int(rng.integers(0, sh - H + 1))
    x = int(rng.integers(0, sw - W + 1))
    crop = big[y:y + H, x:x + W] / 255.0
    rgb = np.repeat(crop[None], 3, axis=0)
    rgb = (rgb - DET_MEAN[:, None, None]) / DET_STD[:, None, None]
    return rgb[None].astype(np.float32)


def text_sample(rng, H, W, flip=False):
    crop = line_crop(rng, max_aspect=W / H, min_aspect=max(1.5, W / H / 2))
    if flip and rng.random() < 0.5:
        crop = crop[::-1, ::-1]
    h, w = crop.shape
    rw = min(W, int(np.ceil(H * w / h)))
    x = (resize(crop, H, rw) / 255.0 - 0.5) / 0.5
    out = np.zeros((H, W), dtype=np.float32)
    out[:, :rw] = x
    return _to_nchw(out)


def ocr_samples(name, hints, n, seed):
    """n samples (dicts input -> [1,3,H,W] float32) for a PaddleOCR model of the manifest, the
    same layout as quantize_vs_onnxruntime.gen_inputs."""
    kind = KINDS[name]
    (inp, h), = hints.items()
    shape = list(h["shape"])
    if len(shape) != 4 or shape[0] != 1 or shape[1] != 3:
        raise ValueError(f"{name}: expected an input hint [1,3,H,W], got {shape}")
    H, W = shape[2], shape[3]
    if kind == "det" and (H % 32 or W % 32):
        raise ValueError(f"{name}: det input H and W must be multiples of 32, got {H}x{W}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if kind == "det":
            a = det_sample(rng, H, W)
        else:
            a = text_sample(rng, H, W, flip=(kind == "cls"))
        out.append({inp: a})
    return out


# =========================================================================== check


def _check(names, n):
    import json

    import onnxruntime as ort

    manifest = {e["name"]: e for e in json.loads((ROOT / "models" / "manifest.json").read_text())["models"]}
    for name in names:
        e = manifest[name]
        path = ROOT / e["file"]
        if not path.exists():
            print(f"{name}: {e['file']} missing (scripts/fetch-models.py --all)")
            continue
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        samples = ocr_samples(name, e["inputs"], n, 0)
        noise = [{k: np.random.default_rng(i).uniform(0, 1, v.shape).astype(np.float32)
                  for k, v in s.items()} for i, s in enumerate(samples)]
        for label, feeds in (("text", samples), ("noise", noise)):
            outs = [sess.run(None, f)[0] for f in feeds]
            o = np.concatenate(outs)
            if KINDS[name] == "det":
                print(f"{name} [{label}] {o.shape}: max {o.max():.4f} mean {o.mean():.4f} "
                      f"share>0.3 {(o > 0.3).mean():.4f} per sample max "
                      + " ".join(f"{x.max():.2f}" for x in outs))
            elif KINDS[name] == "rec":
                chars = [""] + next((p.value for p in _meta(path) if p.key == "character"), "").splitlines() + [" "]
                am = o.argmax(-1)
                texts = []
                for row in am:
                    t, last = [], 0
                    for k in row:
                        if k != last and k != 0:
                            t.append(chars[k] if k < len(chars) else "?")
                        last = k
                    texts.append("".join(t))
                print(f"{name} [{label}] {o.shape}: non-blank argmax {(am != 0).mean():.3f}, "
                      f"mean max prob {o.max(-1).mean():.3f}; decoded: {texts}")
            else:
                print(f"{name} [{label}] {o.shape}: argmax {o.argmax(-1).tolist()} "
                      f"max prob {np.round(o.max(-1), 3).tolist()}")


def _meta(path):
    import onnx

    return onnx.load(str(path), load_external_data=False).metadata_props


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="run the fp32 models on a few samples")
    ap.add_argument("--models", default=",".join(KINDS))
    ap.add_argument("-n", type=int, default=6)
    a = ap.parse_args()
    img = page_image()
    print(f"{describe()}: {img.shape[1]}x{img.shape[0]} grey, mean {img.mean():.1f}; wheel {WHEELS / WHEEL}")
    if a.check:
        _check([m for m in a.models.split(",") if m], a.n)


if __name__ == "__main__":
    main()
