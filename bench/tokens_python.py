"""Token counting from Python: `keel.count_tokens` against OpenAI's `tiktoken` on the same text.

Usage: `python bench/tokens_python.py CORPUS`. Needs TIKTOKEN_CACHE_DIR filled by
scripts/tiktoken_cache.py (tiktoken cannot download its vocabularies here). Prints MB/s on the
corpus and milliseconds on `"a" * 1_000_000` as one JSON line.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from collections.abc import Callable

import tiktoken

import keel


def best_seconds(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    corpus = pathlib.Path(sys.argv[1]).read_text()
    long_run = "a" * 1_000_000
    enc = tiktoken.get_encoding("o200k_base")
    for text in (corpus, long_run):
        assert keel.count_tokens(text) == len(enc.encode_ordinary(text))
    mb = len(corpus.encode()) / 1e6
    out = {
        "keel_mb_s": mb / best_seconds(lambda: keel.count_tokens(corpus), 7),
        "tiktoken_mb_s": mb / best_seconds(lambda: enc.encode_ordinary(corpus), 5),
        "keel_a_1m_ms": best_seconds(lambda: keel.count_tokens(long_run), 5) * 1e3,
        "tiktoken_a_1m_ms": best_seconds(lambda: enc.encode_ordinary(long_run), 3) * 1e3,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
