"""Skills: sync the library, give an org its context and one override, and see what Slack
serves it. The same scenario runs in examples/rust/skills.rs and examples/node/skills.mjs.

    python examples/python/skills.py
    KEEL_DATABASE_URL=postgres://… python examples/python/skills.py
"""

import asyncio
import os
import uuid

import keel


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    org = str(uuid.uuid4())
    # --8<-- [start:skills]
    db = await keel.connect(url)
    skills = await db.skill_registry()
    report = await skills.sync("skills")  # idempotent: unchanged files change nothing
    created = sum(1 for item in report["items"] if item["action"] == "created")
    print(f"synced {len(report['items'])} skills ({created} new)")

    await skills.set_org_context(org, {"company_name": "Acme"})
    await skills.set_enabled(org, "slack-general-query", False)
    slack = await skills.resolve_skills(org, "slack")  # cached per (org, channel)
    shadowed = ", ".join(f"{s['key']} ({s['reason']})" for s in slack.shadowed)
    print(f"slack sees {len(slack)} skills; shadowed: {shadowed}")
    deal = slack.get("slack-deal-query")
    if deal is not None:
        request = {
            "deal": {"name": "Renewal", "stage": "Proposal", "amount": 120000, "close_date": "2026-12-15"},
            "user_name": "sam",
        }
        text = deal.render(request)  # fills ${deal.…} for this request
        print(f"slack-deal-query v{deal.version}: {len(text)} chars")
    await db.close()
    # --8<-- [end:skills]

    # The platform's corpus as it is (atomic/ and sequences/ folders), file by file.
    corpus = keel.import_skills("testdata/skill-corpus")
    print(f"platform corpus: {corpus['loads']} load, {corpus['warned']} warned, {corpus['refused']} refused")


if __name__ == "__main__":
    asyncio.run(main())
