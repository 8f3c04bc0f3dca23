"""Skills from Python: validation, sync with versions, overrides and channel views, on both
backends, and the typed errors."""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import uuid

import pytest

import keel

LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "skills"


def skill_md(name: str, body: str, namespace: str = "shared") -> str:
    return f"---\nname: {name}\ndescription: The {name} skill.\nmetadata:\n  namespace: {namespace}\n---\n{body}\n"


def test_validate_and_parse_report_every_problem_with_a_position() -> None:
    library = keel.validate_skills(LIBRARY)
    assert len(library["skills"]) >= 30
    assert [d for d in library["diagnostics"] if d["severity"] == "error"] == []
    parsed = keel.parse_skill("---\nname: Bad_Name\ndescription: d\nmetadata:\n  priority: urgent\n---\nx\n")
    assert parsed["skill"] is None
    assert [(d["code"], d["line"], d["field"]) for d in parsed["diagnostics"]] == [
        ("invalid_name", 2, "name"),
        ("invalid_value", 5, "metadata.priority"),
    ]


async def test_sync_versions_overrides_and_views(db: keel.Keel, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "skills"
    shutil.copytree(LIBRARY, root)
    skills = await db.skill_registry()
    seen: list[tuple[int, int, str]] = []
    report = await skills.sync(root, progress=lambda done, total, key: seen.append((done, total, key)))
    assert len(report["items"]) == len(seen) >= 30
    assert {i["action"] for i in report["items"]} == {"created"}
    assert seen[-1][0] == seen[-1][1]
    again = await skills.sync(root)
    assert {i["action"] for i in again["items"]} == {"unchanged"}

    deal_status = root / "copilot" / "deal-status" / "SKILL.md"
    deal_status.write_text(deal_status.read_text() + "\nAlso name the next step.\n")
    bumped = await skills.sync(root)
    changed = [i for i in bumped["items"] if i["action"] != "unchanged"]
    assert [(i["key"], i["action"], i["previous"], i["version"]) for i in changed] == [("deal-status", "updated", 1, 2)]
    assert [(v["version"], v["is_current"]) for v in await skills.history("deal-status")] == [(1, False), (2, True)]

    org = str(uuid.uuid4())
    await skills.set_org_context(org, {"company_name": "Acme", "competitor": {"name": "Rivalsoft"}})
    assert (await skills.org_context(org))["company_name"] == "Acme"
    slack = await skills.resolve_skills(org, "slack")
    assert "slack-deal-query" in slack and "deal-status" not in slack
    assert {s.namespace for s in slack.skills} == {"slack", "shared"}
    competitive = slack.get("slack-competitive-query")
    assert competitive is not None and "Rivalsoft" in competitive.content
    assert "acknowledge the concern" in competitive.content  # the @objection-handling document
    assert competitive.version == 1 and competitive.source == "platform"
    assert skills.cached(org, "slack") is not None
    deal_query = slack.get("slack-deal-query")
    assert deal_query is not None and deal_query.needs_request and "${deal.name}" in deal_query.content
    deal = {"name": "Renewal", "stage": "Proposal", "amount": 120000, "close_date": "2026-12-15"}
    rendered = deal_query.render({"deal": deal, "user_name": "sam"})
    assert "Renewal" in rendered and "unassigned" in rendered and "${" not in rendered
    with pytest.raises(keel.InvalidSkillError) as missing:
        deal_query.render({})
    assert missing.value.field == "body"
    assert missing.value.diagnostics[0]["code"] == "template_value"
    # The same through the view, as Node's view.render(key, request).
    assert slack.render("slack-deal-query", {"deal": deal, "user_name": "sam"}) == rendered
    with pytest.raises(keel.InvalidInputError) as unseen:
        slack.render("deal-status", {})
    assert unseen.value.field == "key"

    await skills.set_enabled(org, "slack-general-query", False)
    await skills.replace(org, "slack-deal-query", skill_md("slack-deal-query", "Our own deal answer for ${company_name}.", "slack"))
    await skills.pin(org, "deal-status", 1)
    view = await skills.resolve_skills(org, "slack")
    assert "slack-general-query" not in view
    own = view.get("slack-deal-query")
    assert own is not None and own.source == "org" and own.version is None
    assert own.content.endswith("Our own deal answer for Acme.\n")
    reasons = {(s["key"], s["reason"]) for s in view.shadowed}
    assert {("slack-general-query", "disabled_by_org"), ("slack-deal-query", "replaced_by_org")} <= reasons
    web = await skills.resolve_skills(org, "web")
    pinned = web.get("deal-status")
    assert pinned is not None and pinned.version == 1
    assert "Also name the next step." not in pinned.content

    with pytest.raises(keel.InvalidInputError) as bad_channel:
        await skills.resolve_skills(org, "sms")
    assert bad_channel.value.field == "channel"
    with pytest.raises(keel.InvalidInputError) as bad_pin:
        await skills.pin(org, "deal-status", 7)
    assert bad_pin.value.field == "version"
    with pytest.raises(keel.InvalidSkillError) as bad_skill:
        await skills.replace(org, "deal-status", "no frontmatter")
    assert bad_skill.value.diagnostics[0]["code"] == "missing_frontmatter"
    with pytest.raises(keel.InvalidInputError):
        await skills.move_to(org, "deal-status", "email")
    with pytest.raises(keel.InvalidInputError) as bad_org:
        await skills.set_enabled("not-a-uuid", "deal-status", False)
    assert bad_org.value.field == "org_id"


async def test_concurrent_syncs_keep_one_current_version(db: keel.Keel, tmp_path: pathlib.Path) -> None:
    skills = await db.skill_registry()
    roots = []
    for i in range(8):
        root = tmp_path / f"v{i}" / "shared" / "raced"
        root.mkdir(parents=True)
        (root / "SKILL.md").write_text(skill_md("raced", f"Version {i}."))
        roots.append(tmp_path / f"v{i}")
    reports = await asyncio.gather(*(skills.sync(r) for r in roots))
    versions = sorted(r["items"][0]["version"] for r in reports)
    assert versions == list(range(1, 9))
    history = await skills.history("raced")
    assert [v["is_current"] for v in history].count(True) == 1


async def test_an_invalid_library_is_refused(db: keel.Keel, tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "copilot" / "bad-one"
    bad.mkdir(parents=True)
    (bad / "SKILL.md").write_text("---\nname: other\ndescription: d\n---\nx\n")
    skills = await db.skill_registry()
    with pytest.raises(keel.InvalidSkillError) as info:
        await skills.sync(tmp_path)
    assert info.value.code == "invalid_skill"
    assert info.value.diagnostics[0]["code"] == "name_mismatch"
    assert await skills.list() == []


async def test_a_lone_surrogate_in_a_path_is_a_keel_error() -> None:
    """Not PyO3's PanicException (a BaseException that `except Exception` misses)."""
    for path in ["/nonexistent/\udcff", "\ud800", "x\0y"]:
        with pytest.raises(keel.KeelError):
            keel.validate_skills(path)
    db = await keel.connect("sqlite::memory:")
    registry = await db.skill_registry()
    for path in ["/nonexistent/\udcff", "\ud800"]:
        with pytest.raises(keel.KeelError):
            await registry.sync(path)
    await db.close()
