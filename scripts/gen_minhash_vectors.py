"""Writes testdata/minhash_signatures.json and testdata/lsh_params.json from an independent
implementation of Keel's MinHash (signature version 1) and LSH cut, written from the spec in
core/src/dedup/minhash.rs and lsh.rs, not from its code. Rust, Python and Node must produce
exactly these values; a change of hashing is a new signature version and new vectors.

Spec (version 1):
- words: runs of alphanumeric characters, each character lowercased on its own;
- a word's hash: its UTF-8 bytes in 8-byte little-endian chunks (the last zero-padded),
  h = rotl64((h ^ chunk) * 0x9E3779B97F4A7C15, 29) from h = 0; then h ^= length in bytes,
  h = (h ^ h >> 32) * 0xD6E8FEB86659FD93, h ^= h >> 32;
- shingles: every run of `shingle_words` consecutive words (one shingle of all words when
  there are fewer), its hash h = (rotl64(h, 23) ^ w) * 0x9E3779B97F4A7C15 over its words from
  h = 0, then h ^= h >> 29 and the 32-bit fold (h >> 32) ^ h;
- permutation i: r = splitmix64(seed ^ splitmix64(i)); xor = low 32 bits of r, mul = high 32
  bits | 1; value = min over shingles x of m ^ (m >> 16) where m = ((x ^ xor) * mul) mod 2^32;
- bytes: "KM", version 1, num_perm (u16 LE), shingle_words, seed (u64 LE), values (u32 LE).

LSH cut for threshold t and n permutations: for each rows r, the fewest bands b (b * r <= n)
with 1 - (1 - t^r)^b >= 0.99; among those, the least integral of that probability over
[0, t] (Simpson's rule, 128 intervals). A candidate is confirmed at t - 1.645 sqrt(t(1-t)/n).

Usage: python scripts/gen_minhash_vectors.py
"""

from __future__ import annotations

import json
import pathlib

import xxhash

ROOT = pathlib.Path(__file__).resolve().parent.parent
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & M64


def splitmix64(state: int) -> int:
    z = (state + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def words(text: str) -> list[bytes]:
    out, cur = [], []
    for c in text:
        if c.isalnum():
            cur.append(c.lower())
        elif cur:
            out.append("".join(cur).encode())
            cur = []
    if cur:
        out.append("".join(cur).encode())
    return out


def word_hash(word: bytes) -> int:
    h = 0
    for i in range(0, len(word), 8):
        chunk = int.from_bytes(word[i : i + 8].ljust(8, b"\0"), "little")
        h = rotl(((h ^ chunk) * 0x9E3779B97F4A7C15) & M64, 29)
    h ^= len(word)
    h = ((h ^ (h >> 32)) * 0xD6E8FEB86659FD93) & M64
    return h ^ (h >> 32)


def shingle_hash(ws: list[int]) -> int:
    h = 0
    for w in ws:
        h = ((rotl(h, 23) ^ w) * 0x9E3779B97F4A7C15) & M64
    h ^= h >> 29
    return ((h >> 32) ^ h) & M32


def signature(text: str, num_perm: int = 128, shingle_words: int = 3, seed: int = 1) -> list[int]:
    hs = [word_hash(w) for w in words(text)]
    k = min(shingle_words, len(hs))
    shingles = [shingle_hash(hs[i : i + k]) for i in range(len(hs) - k + 1)]
    values = []
    for i in range(num_perm):
        r = splitmix64(seed ^ splitmix64(i))
        xor, mul = r & M32, (r >> 32) | 1
        best = M32
        for x in shingles:
            m = ((x ^ xor) * mul) & M32
            best = min(best, m ^ (m >> 16))
        values.append(best)
    return values


def to_bytes(values: list[int], shingle_words: int, seed: int) -> str:
    out = b"KM" + bytes([1]) + len(values).to_bytes(2, "little") + bytes([shingle_words])
    out += seed.to_bytes(8, "little") + b"".join(v.to_bytes(4, "little") for v in values)
    return out.hex()


def candidate_probability(s: float, bands: int, rows: int) -> float:
    return 1 - (1 - s**rows) ** bands


def integrate(f, a: float, b: float) -> float:
    n = 128
    h = (b - a) / n
    inner = sum(f(a + i * h) * (4 if i % 2 else 2) for i in range(1, n))
    return (f(a) + f(b) + inner) * h / 3


def lsh_params(t: float, n: int) -> dict[str, float]:
    best = (float("inf"), n, 1)
    for rows in range(1, n + 1):
        bands = next((b for b in range(1, n // rows + 1) if candidate_probability(t, b, rows) >= 0.99), None)
        if bands is None:
            continue
        area = integrate(lambda s: candidate_probability(s, bands, rows), 0.0, t)
        if area < best[0]:
            best = (area, bands, rows)
    return {"bands": best[1], "rows": best[2], "confirm_at": t - 1.645 * (t * (1 - t) / n) ** 0.5}


TEXTS = [
    ("short", "Deal at risk", {}),
    ("one_word", "renewal", {}),
    ("sentence", "Acme renewal is at risk because Dana Whitfield stopped replying after the pricing call.", {}),
    ("case_and_punctuation", "ACME renewal -- is at RISK, because dana whitfield stopped replying after the pricing call!", {}),
    ("long_words", "Supercalifragilisticexpialidocious internationalization counterrevolutionaries", {}),
    ("digits", "Order 4521 for $48,000 closes 2026-12-31", {}),
    ("accents", "Réunion à Zürich avec Ærøskøbing: prix révisé", {}),
    ("greek_cyrillic", "ΣΟΦΙΑ προσφορά Москва СДЕЛКА", {}),
    ("cjk", "东京 の 商談 は 来週", {}),
    ("unigrams", "the champion left and the budget moved", {"shingle_words": 1}),
    ("five_word_shingles", "follow up with the buyer on pricing and the security review next week", {"shingle_words": 5}),
    ("other_seed", "Acme renewal is at risk", {"seed": 42}),
    ("big_seed", "Acme renewal is at risk", {"seed": 9007199254740991}),
    ("sixteen_perms", "Acme renewal is at risk", {"num_perm": 16}),
    ("hundred_perms", "Acme renewal is at risk", {"num_perm": 100}),
]


def band_hashes(values: list[int], bands: int, rows: int) -> list[int]:
    return [
        xxhash.xxh3_64_intdigest(b"".join(v.to_bytes(4, "little") for v in values[b * rows : (b + 1) * rows]), b)
        for b in range(bands)
    ]


def query(items: list[tuple[str, str]], text: str, t: float) -> dict[str, object]:
    p = lsh_params(t, 128)
    q = signature(text)
    qb = band_hashes(q, p["bands"], p["rows"])
    candidates, similar = [], []
    for key, item in items:
        v = signature(item)
        if any(a == b for a, b in zip(band_hashes(v, p["bands"], p["rows"]), qb)):
            candidates.append(key)
            j = sum(a == b for a, b in zip(v, q)) / 128
            if j >= p["confirm_at"]:
                similar.append({"key": key, "jaccard": j})
    similar.sort(key=lambda s: (-s["jaccard"], s["key"]))
    return {"candidates": sorted(candidates), "similar": similar}


BASE = ("Acme renewal is at risk because Dana Whitfield stopped replying to emails after the pricing call "
        "and procurement asked for a discount of 12 percent before they will sign the order form")
ITEMS = [
    ("same", BASE),
    ("typo", BASE.replace("pricing", "prcing")),
    ("reordered", BASE.split(" and ")[1] + " and " + BASE.split(" and ")[0]),
    ("paraphrased", BASE.replace("asked for", "requested").replace("stopped", "ceased")),
    ("other_deal", BASE.replace("Acme", "Globex").replace("Dana Whitfield", "Ravi Menon").replace("12 percent", "$48,000")),
    ("unrelated", "Schedule the quarterly business review with Priya Shah and include the usage report"),
]


def main() -> None:
    cases = []
    for name, text, options in TEXTS:
        o = {"num_perm": 128, "shingle_words": 3, "seed": 1, **options}
        values = signature(text, o["num_perm"], o["shingle_words"], o["seed"])
        cases.append({"name": name, "input": {"text": text, "options": options},
                      "expected": {"values": values, "bytes": to_bytes(values, o["shingle_words"], o["seed"])}})
    errors = [
        ("empty", "", {}, "text"),
        ("only_punctuation", " -- ... !! ", {}, "text"),
        ("too_few_perms", "a b c", {"num_perm": 8}, "num_perm"),
        ("too_many_perms", "a b c", {"num_perm": 2048}, "num_perm"),
        ("zero_shingle", "a b c", {"shingle_words": 0}, "shingle_words"),
        ("unknown_option", "a b c", {"bands": 4}, "bands"),
    ]
    for name, text, options, field in errors:
        cases.append({"name": name, "input": {"text": text, "options": options},
                      "expected_error_code": "invalid_input", "expected_error_field": field})
    (ROOT / "testdata" / "minhash_signatures.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")

    params = []
    for t, n in [(0.5, 128), (0.7, 128), (0.8, 128), (0.9, 128), (0.95, 128), (0.8, 64), (0.8, 256), (0.6, 32)]:
        params.append({"name": f"t{t}_n{n}", "input": {"threshold": t, "num_perm": n}, "expected": lsh_params(t, n)})
    for name, options, field in [("threshold_one", {"threshold": 1.0}, "threshold"),
                                 ("threshold_zero", {"threshold": 0.0}, "threshold"),
                                 ("threshold_text", {"threshold": "high"}, "threshold"),
                                 ("perms_too_few", {"num_perm": 4}, "num_perm")]:
        params.append({"name": name, "input": options, "expected_error_code": "invalid_input",
                       "expected_error_field": field})
    (ROOT / "testdata" / "lsh_params.json").write_text(json.dumps(params, indent=1) + "\n")
    queries = []
    for t in (0.5, 0.8, 0.9):
        queries.append({"name": f"threshold_{t}", "input": {"threshold": t, "items": [{"key": k, "text": v} for k, v in ITEMS],
                        "query": BASE}, "expected": query(ITEMS, BASE, t)})
    (ROOT / "testdata" / "lsh_queries.json").write_text(json.dumps(queries, indent=1) + "\n")
    print(f"{len(cases)} signature cases, {len(params)} LSH cases, {len(queries)} queries")


if __name__ == "__main__":
    main()
