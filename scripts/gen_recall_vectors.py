#!/usr/bin/env python3
"""Writes testdata/recall_rankings.json: recall rankings computed here, independently of the
Rust code, from the formula documented in core/src/memory/recall.rs.

The cases use plain ASCII words whose Snowball English stems are listed in STEMS, so this
script needs no stemmer: a word missing from STEMS is an error here, not a silent guess.

    python3 scripts/gen_recall_vectors.py
"""

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

K1, B, SUBJECT_WEIGHT = 1.2, 0.75, 2
RECENCY_FLOOR, RECENCY_HALF_LIFE = 0.5, 30.0
ACCESS_WEIGHT, ACCESS_SATURATION, ACCESS_HALF_LIFE = 0.2, 20.0, 14.0

# routing::text's stop words (the ones these cases use are enough; all are listed).
STOP = set(
    """a about all am an and any are as at be been but by can could did do does for from get
    give had has have he her here him his i i'm if in into is it it's its just let let's me
    might my of on or our please s she should so some that the their them then there these
    they this those to up us was we were which whom will with would you your""".split()
)

STEMS = {
    "acme": "acm", "globex": "globex", "pricing": "price", "prices": "price", "price": "price",
    "discount": "discount", "budget": "budget", "grew": "grew", "renewal": "renew",
    "renewals": "renew", "due": "due", "quarter": "quarter", "demo": "demo", "friday": "friday",
    "moved": "move", "security": "secur", "review": "review", "weekly": "week",
    "reports": "report", "email": "email", "wants": "want", "asked": "ask", "annual": "annual",
    "plan": "plan", "sarah": "sarah", "prefers": "prefer", "short": "short", "calls": "call",
    "zebra": "zebra", "alpha": "alpha", "beta": "beta", "gamma": "gamma", "what": "what",
    "who": "who", "office": "offic", "austin": "austin", "headquarters": "headquart",
    "50k": "50k", "80k": "80k", "10": "10", "off": "off", "next": "next", "new": "new",
}


def terms(text):
    out = []
    for word in re.findall(r"[a-z0-9']+", text.lower()):
        if word in STOP:
            continue
        if word not in STEMS:
            raise SystemExit(f"add the stem of {word!r} to STEMS")
        out.append(STEMS[word])
    return out


def fact_terms(subject, content):
    counts = {}
    for t in terms(subject):
        counts[t] = counts.get(t, 0) + SUBJECT_WEIGHT
    for t in terms(content):
        counts[t] = counts.get(t, 0) + 1
    return counts


def query_terms(query):
    out = []
    for t in terms(query):
        if t not in out:
            out.append(t)
    return out


def ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def halve(delta_ms, half_life):
    return 0.5 ** ((max(delta_ms, 0) / 86_400_000) / half_life)


def rank(query, facts, now, limit):
    now_ms = ms(now)
    live = [
        f for f in facts
        if not f.get("superseded_at") and (not f.get("expires_at") or ms(f["expires_at"]) > now_ms)
    ]
    analysed = [(f, fact_terms(f["subject"], f["content"])) for f in live]
    n = len(analysed)
    total = sum(sum(c.values()) for _, c in analysed)
    avg = max(total / n, 1.0) if n else 1.0
    df = {}
    for _, c in analysed:
        for t in c:
            df[t] = df.get(t, 0) + 1
    q = query_terms(query)
    out = []
    for f, c in analysed:
        length = sum(c.values())
        norm = K1 * (1 - B + B * length / avg)
        bm25 = 0.0
        for t in q:
            if t in c:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                bm25 += idf * c[t] * (K1 + 1) / (c[t] + norm)
        if bm25 <= 0:
            continue
        recency = RECENCY_FLOOR + (1 - RECENCY_FLOOR) * halve(now_ms - ms(f["observed_at"]), RECENCY_HALF_LIFE)
        count = f.get("access_count", 0)
        saturation = min(math.log(1 + count) / math.log(1 + ACCESS_SATURATION), 1.0)
        last = f.get("last_accessed_at")
        fade = halve(now_ms - ms(last), ACCESS_HALF_LIFE) if last else 0.0
        access = 1 + ACCESS_WEIGHT * saturation * fade
        score = bm25 * recency * access * f.get("confidence", 1.0)
        out.append((score, f, bm25, recency, access))
    # Best first: score, then newer, then smaller id.
    out.sort(key=lambda r: (-r[0], -ms(r[1]["observed_at"]), r[1]["id"]))
    return [
        {"id": f["id"], "score": round(s, 6), "bm25": round(b, 6), "recency": round(r, 6), "access": round(a, 6)}
        for s, f, b, r, a in out[:limit]
    ]


NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


def at(days_ago):
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def fid(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def f(n, category, subject, content, days=0, **extra):
    return {"id": fid(n), "category": category, "subject": subject, "content": content,
            "observed_at": at(days), **extra}


ACCOUNTS = [
    f(1, "deal", "Acme pricing", "Acme asked for a 10 discount on the annual plan", 2),
    f(2, "deal", "Globex pricing", "Globex wants weekly prices", 40, confidence=0.9),
    f(3, "commitment", "Acme demo", "demo moved to Friday with a security review", 1),
    f(4, "preference", "Reports", "wants weekly reports by email", 10),
    f(5, "relationship", "Sarah", "Sarah prefers short calls", 5, confidence=0.7),
    f(6, "deal", "Acme renewal", "renewal due next quarter", 90),
    f(7, "fact", "Acme office", "moved headquarters to Austin", 3),
]

CASES = [
    ("a rare term outranks a common one; subject terms count double", "Acme pricing", ACCOUNTS, 10, "What is the Acme pricing?"),
    ("stems join word forms; a repeated query word counts once", "prices", ACCOUNTS, 10, "pricing prices PRICING"),
    ("stop words alone find nothing", "stop words", ACCOUNTS, 10, "is it the"),
    ("limit keeps the best", "limit", ACCOUNTS, 2, "Acme demo renewal pricing"),
    ("recency: the same fact said 90 days ago ranks below the one said today", "recency", [
        f(10, "fact", "Zebra", "alpha beta", 90),
        f(11, "fact", "Zebra", "alpha beta", 0),
    ], 10, "zebra"),
    ("confidence scales the score", "confidence", [
        f(12, "fact", "Zebra", "alpha", 0, confidence=0.5),
        f(13, "fact", "Zebra", "alpha", 0, confidence=1.0),
        f(14, "fact", "Gamma", "beta", 0),
    ], 10, "zebra"),
    ("the access boost is at most 20 % and fades: a fact recalled 20 times today edges out its twin, one recalled 20 times 60 days ago barely", "access", [
        f(15, "fact", "Zebra", "alpha", 0, access_count=20, last_accessed_at=at(60)),
        f(16, "fact", "Zebra", "alpha", 0, access_count=20, last_accessed_at=at(0)),
        f(17, "fact", "Zebra", "alpha", 0),
        f(18, "fact", "Beta", "gamma", 0),
    ], 10, "zebra alpha"),
    ("superseded and expired facts are skipped and leave the statistics", "superseded", [
        f(19, "deal", "Acme budget", "budget 50k", 5, superseded_at=at(1)),
        f(20, "deal", "Acme budget", "budget grew to 80k", 1),
        f(21, "deal", "Acme budget", "budget 10", 1, expires_at=at(0.5)),
        f(22, "fact", "Globex", "alpha", 1),
    ], 10, "Acme budget"),
    ("a longer fact scores less for the same matches (length normalisation)", "length", [
        f(23, "fact", "Alpha", "zebra", 0),
        f(24, "fact", "Alpha", "zebra beta gamma beta gamma beta gamma", 0),
        f(25, "fact", "Beta", "gamma", 0),
    ], 10, "zebra"),
    ("ties go to the newer fact, then the smaller id", "ties", [
        f(27, "fact", "Zebra", "alpha", 0),
        f(26, "fact", "Zebra", "alpha", 0),
        f(28, "fact", "Zebra", "alpha", 0, confidence=1.0),
        f(29, "fact", "Beta", "gamma", 0),
    ], 10, "zebra"),
]


def main():
    cases = []
    for name, _, facts, limit, query in CASES:
        cases.append({
            "name": name,
            "input": {"query": query, "now": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "limit": limit, "facts": facts},
            "expected": rank(query, facts, NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), limit),
        })
    cases.append({
        "name": "a time that is not RFC 3339 names the fact's field",
        "input": {"query": "zebra", "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": 10,
                  "facts": [f(30, "fact", "Zebra", "alpha", 0) | {"observed_at": "yesterday"}]},
        "expected_error_code": "invalid_input",
        "expected_error_field": "facts[0].observed_at",
    })
    cases.append({
        "name": "an unknown category names the field",
        "input": {"query": "zebra", "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": 10,
                  "facts": [f(31, "gossip", "Zebra", "alpha", 0)]},
        "expected_error_code": "invalid_input",
        "expected_error_field": "facts[0].category",
    })
    out = Path(__file__).resolve().parent.parent / "testdata" / "recall_rankings.json"
    out.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
