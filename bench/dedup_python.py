"""Near-duplicates from Python (issue 19): `keel.minhash` against rensa and datasketch on the same
documents, and the quality of `keel.MinHashLsh` against datasketch's `MinHashLSH` on the labelled
set `bench/data/near_duplicates.json` (scripts/gen_dedup_set.py).

Speed: microseconds per 128-permutation signature of each of the set's 960 items (60-100
words), best of several rounds. Keel lowercases, splits words and hashes 3-word shingles;
rensa and datasketch get `text.split()` (their documented use), so Keel does more per item.

Quality at threshold 0.8: the pairs each index returns, against the labels. Recall counts the
labelled duplicate pairs whose true Jaccard (exact, over the same 3-word shingles) is at least
0.8; precision counts every returned pair. datasketch is given the same shingles, and its
candidates are confirmed by its own estimated Jaccard, as Keel's are.

The recall curve: for Jaccard s in 0.5 ... 0.95, 400 pairs of word sets with exactly that
Jaccard (`shingle_words=1`), and the share Keel's index returns.

Usage: python bench/dedup_python.py. Prints one JSON line.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import random
import re
import time
from collections.abc import Callable

import datasketch
import rensa

import keel

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = json.loads((ROOT / "bench" / "data" / "near_duplicates.json").read_text())["docs"]
WORD = re.compile(r"[^\W_]+")


def per_item_us(fn: Callable[[str], object], texts: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - start)
    return best / len(texts) * 1e6


def rensa_sig(text: str) -> object:
    m = rensa.RMinHash(num_perm=128, seed=1)
    m.update(text.split())
    return m


def datasketch_sig(text: str) -> object:
    m = datasketch.MinHash(num_perm=128)
    m.update_batch([w.encode() for w in text.split()])
    return m


def shingles(text: str) -> set[str]:
    words = [w.lower() for w in WORD.findall(text)]
    k = min(3, len(words))
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


def scores(found: set[tuple[int, int]], same: dict[tuple[int, int], float]) -> dict[str, float]:
    relevant = {p for p, j in same.items() if j >= 0.8}
    return {
        "recall": len(found & relevant) / len(relevant),
        "precision": len(found & set(same)) / max(1, len(found)),
        "pairs_returned": len(found),
    }


def quality() -> dict[str, object]:
    sets = [shingles(d["text"]) for d in DOCS]
    same = {
        (i, j): jaccard(sets[i], sets[j])
        for i, j in itertools.combinations(range(len(DOCS)), 2)
        if DOCS[i]["group"] == DOCS[j]["group"]
    }
    lsh = keel.MinHashLsh(threshold=0.8)
    sigs = [keel.minhash(d["text"]) for d in DOCS]
    for i, s in enumerate(sigs):
        lsh.insert(str(i), s)
    keel_found = {
        tuple(sorted((i, int(hit["key"]))))
        for i, s in enumerate(sigs)
        for hit in lsh.query(s)
        if int(hit["key"]) != i
    }
    ds = datasketch.MinHashLSH(threshold=0.8, num_perm=128)
    ds_sigs = []
    for i, sh in enumerate(sets):
        m = datasketch.MinHash(num_perm=128)
        m.update_batch([s.encode() for s in sh])
        ds_sigs.append(m)
        ds.insert(str(i), m)
    ds_found = {
        tuple(sorted((i, int(k))))
        for i, m in enumerate(ds_sigs)
        for k in ds.query(m)
        if int(k) != i and m.jaccard(ds_sigs[int(k)]) >= 0.8
    }
    true_ge = sum(1 for j in same.values() if j >= 0.8)
    return {
        "items": len(DOCS),
        "duplicate_pairs": len(same),
        "duplicate_pairs_jaccard_ge_0_8": true_ge,
        "keel": scores(keel_found, same),
        "datasketch": scores(ds_found, same),
        "bands_rows": [lsh.bands, lsh.rows],
    }


def recall_curve() -> dict[str, float]:
    rng = random.Random(5)
    out = {}
    for s in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        found = 0
        trials = 400
        lsh = keel.MinHashLsh(threshold=0.8)
        pairs = []
        for t in range(trials):
            union = 100
            shared = round(s * union)
            only = (union - shared) // 2
            words = [f"w{t}x{rng.getrandbits(40)}" for _ in range(union)]
            a = words[: shared + only]
            b = words[:shared] + words[shared + only : shared + 2 * only]
            lsh.insert(str(t), keel.minhash(" ".join(a), shingle_words=1))
            pairs.append((str(t), keel.minhash(" ".join(b), shingle_words=1)))
        for key, b in pairs:
            found += any(hit["key"] == key for hit in lsh.query(b))
        out[str(s)] = found / trials
    return out


def main() -> None:
    texts = [d["text"] for d in DOCS]
    out = {
        "keel_us": per_item_us(keel.minhash, texts, 15),
        "rensa_us": per_item_us(rensa_sig, texts, 15),
        "datasketch_us": per_item_us(datasketch_sig, texts, 3),
        "quality": quality(),
        "recall_curve": recall_curve(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
