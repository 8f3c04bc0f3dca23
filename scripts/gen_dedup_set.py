"""Writes bench/data/near_duplicates.json: a labelled near-duplicate set for `make bench`.

Command Centre items made from 40 sentence patterns with slots (company, person, amount, date,
product, stage). A template is six patterns; a base item is a template with its slots filled.
Items of one template with other fillings share most of their wording but are different items
(hard negatives: another deal, another person; no two fillings of a template share a value). Each base item gets three variants that are
the same item: typos, two sentences swapped, a few words paraphrased, case and punctuation
changed, or two of these. `group` labels the items that are the same; `kind` says how a
variant was made. Deterministic (seed 19): rerun to regenerate, never edit by hand.

Usage: python scripts/gen_dedup_set.py
"""

from __future__ import annotations

import json
import pathlib
import random

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "data" / "near_duplicates.json"

PATTERNS = [
    "{company} renewal is at risk because {person} stopped replying to emails after the pricing call",
    "The champion at {company} changed roles last week and the new owner has not been briefed",
    "Procurement asked for a discount of {amount} before they will sign the order form",
    "{person} mentioned that budget for {product} was moved into the next fiscal quarter",
    "The last meeting with {company} ended without a clear next step or owner",
    "Legal review of the master services agreement has been pending since {date}",
    "Usage of {product} dropped by a third over the last thirty days across their team",
    "{person} asked for a security questionnaire and a copy of our latest audit report",
    "A competitor demo was scheduled by {company} for {date} according to their calendar invite",
    "The deal has been in the {stage} stage for longer than any similar deal this year",
    "Send {person} a short recap of the business case with the numbers they shared",
    "Book a call with the economic buyer at {company} before the end of the month",
    "The forecast still shows {amount} closing this quarter although no paperwork has moved",
    "{person} is new to the account and needs an introduction to the support team",
    "The pilot of {product} finished on {date} and the success criteria were mostly met",
    "Ask {person} whether the rollout plan still needs sign off from their operations lead",
    "The contact record for {person} is missing a phone number and a job title",
    "Three support tickets about {product} were opened by {company} in the last week",
    "Their finance team asked for invoicing in euros starting from {date}",
    "The expansion opportunity at {company} could add {amount} in annual recurring revenue",
    "{person} replied that the board meeting moved and the decision will slip to {date}",
    "Update the close date and next step fields in the crm for the {company} deal",
    "No activity has been logged on this opportunity since {date} which is unusual for {stage}",
    "The stakeholder map for {company} lists only one contact who can approve spend",
    "Follow up with {person} on the questions about data residency and single sign on",
    "Their current contract for {product} auto renews on {date} unless they give notice",
    "The reference call with another customer went well and {person} wants a second one",
    "Draft an email to {person} proposing two times next week to review the proposal",
    "The proposal sent on {date} has been opened four times but nobody has replied",
    "{company} hired a new head of revenue operations who previously used a competitor",
    "The mutual action plan is missing dates for the technical validation and legal steps",
    "A price increase notice for {product} needs to go to {person} before {date}",
    "The sentiment on the last call was negative when implementation timelines came up",
    "Check whether {company} still plans to consolidate vendors in the second half",
    "{person} requested a custom integration that engineering estimated at six weeks",
    "The account plan for {company} has not been updated since the kickoff in {date}",
    "Their team size grew to two hundred seats which moves them into the enterprise tier",
    "Schedule the quarterly business review with {person} and include the usage report",
    "The signed order form for {amount} is waiting for countersignature from our side",
    "Log the notes from the discovery call with {company} and tag the pain points",
]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
             "Soylent", "Vandelay", "Pied Piper", "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Gringotts",
             "Oscorp", "Massive Dynamic", "Dunder Mifflin", "Prestige Worldwide", "Monarch"]
PEOPLE = ["Dana Whitfield", "Ravi Menon", "Sofia Alvarez", "Tom Becker", "Aiko Tanaka", "Liam O'Neill",
          "Grace Okafor", "Marek Nowak", "Chloe Martin", "Jonas Berg", "Priya Shah", "Omar Haddad",
          "Elena Petrova", "Noah Kim", "Fatima Diallo", "Lucas Rossi"]
AMOUNTS = ["12 percent", "$48,000", "$120,000", "$7,500 a month", "18 percent", "$310,000", "$64,000",
           "$2.4 million", "9 percent"]
DATES = ["March 3", "the 14th", "next Tuesday", "April 28", "June 1", "last Friday", "May 19",
         "October 12", "the end of the quarter"]
PRODUCTS = ["the analytics add-on", "Sequences", "the forecasting module", "Conversation Insights",
            "the enterprise plan", "Deal Rooms", "the API package", "Revenue Signals"]
STAGES = ["negotiation", "proposal", "discovery", "technical validation", "legal review", "closing",
          "evaluation", "qualification"]
SYNONYMS = {
    "asked": "requested", "stopped": "ceased", "meeting": "call", "week": "week or so", "email": "message",
    "clear": "defined", "new": "incoming", "missing": "lacking", "review": "assessment", "team": "group",
    "wants": "would like", "before": "ahead of", "last": "previous", "update": "refresh", "send": "email",
    "book": "schedule", "numbers": "figures", "still": "yet", "unusual": "atypical", "went": "was",
}
FILLER = ["really", "apparently", "again", "now", "also"]


def fill(patterns: list[str], slots: dict[str, str]) -> list[str]:
    return [p.format(**slots) + "." for p in patterns]


def fillings(rng: random.Random, n: int) -> list[dict[str, str]]:
    """`n` fillings of one template, no two sharing a value: other deals, other people."""
    columns = {name: rng.sample(values, n) for name, values in
               [("company", COMPANIES), ("person", PEOPLE), ("amount", AMOUNTS), ("date", DATES),
                ("product", PRODUCTS), ("stage", STAGES)]}
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def typo(text: str, rng: random.Random, n: int) -> str:
    words = text.split(" ")
    for _ in range(n):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(1, len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:] if rng.random() < 0.5 else w[:j] + w[j + 1:]
    return " ".join(words)


def swap(sentences: list[str], rng: random.Random) -> list[str]:
    out = list(sentences)
    i = rng.randrange(len(out) - 1)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


def paraphrase(text: str, rng: random.Random, n: int) -> str:
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if w.lower().strip(".,") in SYNONYMS]
    rng.shuffle(spots)
    for i in spots[:n]:
        bare = words[i].lower().strip(".,")
        words[i] = words[i].lower().replace(bare, SYNONYMS[bare])
    if rng.random() < 0.5:
        words.insert(rng.randrange(len(words)), rng.choice(FILLER))
    return " ".join(words)


def restyle(text: str, rng: random.Random) -> str:
    return text.upper() if rng.random() < 0.3 else text.replace(".", " --").replace(",", "")


def variant(sentences: list[str], kind: str, rng: random.Random) -> str:
    if kind == "typos":
        return typo(" ".join(sentences), rng, rng.randint(1, 3))
    if kind == "reordered":
        return " ".join(swap(sentences, rng))
    if kind == "paraphrased":
        return paraphrase(" ".join(sentences), rng, rng.randint(1, 3))
    if kind == "restyled":
        return restyle(" ".join(sentences), rng)
    return typo(" ".join(swap(sentences, rng)), rng, 1)


def main() -> None:
    rng = random.Random(19)
    docs = []
    group = 0
    for template in range(30):
        patterns = rng.sample(PATTERNS, 6)
        for slots in fillings(rng, 8):
            sentences = fill(patterns, slots)
            docs.append({"id": f"t{template}-g{group}-base", "group": group, "template": template,
                         "kind": "base", "text": " ".join(sentences)})
            for k, kind in enumerate(rng.sample(["typos", "reordered", "paraphrased", "restyled", "mixed"], 3)):
                docs.append({"id": f"t{template}-g{group}-v{k}", "group": group, "template": template,
                             "kind": kind, "text": variant(sentences, kind, rng)})
            group += 1
    OUT.write_text(json.dumps({"docs": docs}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(docs)} items in {group} groups -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
