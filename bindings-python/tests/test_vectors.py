"""The shared vectors in testdata/, run against the Python API."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pathlib
import uuid

import pytest

import keel
from conftest import LOADED, TESTDATA, load_vectors


@pytest.mark.parametrize("case", load_vectors("database_urls.json"), ids=lambda c: c["name"])
def test_database_url(case: dict[str, Any]) -> None:
    url = case["input"]["url"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.parse_database_url(url)
        assert info.value.code == case["expected_error_code"]
    else:
        parsed = keel.parse_database_url(url)
        got = {"backend": parsed.backend, "masked": parsed.masked, "in_memory": parsed.in_memory}
        assert got == case["expected"]


@pytest.mark.parametrize("case", load_vectors("mask_url.json"), ids=lambda c: c["name"])
def test_mask_url(case: dict[str, Any]) -> None:
    assert keel.mask_url(case["input"]["url"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("error_codes.json"), ids=lambda c: c["name"])
def test_error_codes(case: dict[str, Any]) -> None:
    assert keel.error_codes() == case["expected"]
    # One exception class per code, each under KeelError.
    assert sorted(keel.BY_CODE) == sorted(case["expected"])
    for code, cls in keel.BY_CODE.items():
        assert issubclass(cls, keel.KeelError) and cls.code == code


@pytest.mark.parametrize("case", load_vectors("connect_errors.json"), ids=lambda c: c["name"])
async def test_connect_errors(case: dict[str, Any]) -> None:
    with pytest.raises(keel.KeelError) as info:
        await keel.connect(case["input"]["url"])
    assert info.value.code == case["expected_error_code"]
    assert case["input"].get("secret", "\0") not in str(info.value)


@pytest.mark.parametrize("case", load_vectors("redact_secrets.json"), ids=lambda c: c["name"])
def test_redact_secrets(case: dict[str, Any]) -> None:
    assert keel.redact_secrets(case["input"]["text"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("traceparent.json"), ids=lambda c: c["name"])
def test_traceparent(case: dict[str, Any]) -> None:
    got = keel.parse_traceparent(case["input"]["header"])
    expected = case["expected"]
    assert got == (None if expected is None else (expected["trace_id"], expected["parent_span_id"], expected["sampled"]))


@pytest.fixture
async def default_router() -> Any:
    """A router on an empty in-memory database: the default matrix, every circuit closed."""
    db = await keel.connect("sqlite::memory:")
    yield await db.model_router()
    await db.close()


@pytest.mark.parametrize("case", load_vectors("compaction_thresholds.json"), ids=lambda c: c["name"])
async def test_compaction_threshold(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    model, options = case["input"]["model"], case["input"]["options"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            default_router.compaction_threshold(model, **options)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert default_router.compaction_threshold(model, **options) == case["expected"]


async def test_compaction_threshold_keywords_are_checked(default_router: keel.ModelRouter) -> None:
    for keywords, field in [({"ratoi": 1}, "ratoi"), ({"output_tokens": -1}, "output_tokens")]:
        with pytest.raises(keel.KeelError) as info:
            default_router.compaction_threshold("claude-sonnet-4-6", **keywords)
        assert (info.value.code, info.value.field) == ("invalid_input", field)


@pytest.mark.parametrize("case", load_vectors("model_resolution.json"), ids=lambda c: c["name"])
async def test_model_resolution(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    inp = case["input"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            default_router.resolve_model(inp["feature"], inp["tier"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_field"])
        return
    r = default_router.resolve_model(inp["feature"], inp["tier"])
    got = {
        "provider": r.provider,
        "model_id": r.model_id,
        "credit_cost": r.credit_cost,
        "max_tokens": r.max_tokens,
        "context_window": r.context_window,
        "was_fallback": r.was_fallback,
        "tier": r.tier,
    }
    assert got == case["expected"]


@pytest.mark.parametrize("case", load_vectors("agent_budgets.json"), ids=lambda c: c["name"])
def test_agent_budgets(case: dict[str, Any]) -> None:
    b = keel.check_agent_budget(case["input"]["agent"], case["input"]["used"])
    assert {"exceeded": b.exceeded, "limit": b.limit} == case["expected"]


@pytest.mark.parametrize("case", load_vectors("failure_statuses.json"), ids=lambda c: c["name"])
async def test_failure_statuses(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    got = await default_router.record_failure("claude-sonnet-4-6", status=case["input"]["status"])
    assert {"first_failure": got} == case["expected"]


@pytest.mark.parametrize("case", load_vectors("skill_parse.json"), ids=lambda c: c["name"])
def test_skill_parse(case: dict[str, Any]) -> None:
    inp = case["input"]
    parsed = keel.parse_skill(inp["text"], inp["folder"])
    got = {
        "name": parsed["skill"]["name"] if parsed["skill"] else None,
        "diagnostics": [[d["code"], d["severity"], d["line"], d["column"]] for d in parsed["diagnostics"]],
    }
    assert got == case["expected"]


@pytest.mark.parametrize("case", load_vectors("skill_compile.json"), ids=lambda c: c["name"])
def test_skill_compile(case: dict[str, Any]) -> None:
    inp = case["input"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.compile_skill(inp["text"], inp["context"], inp["documents"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        if "expected_diagnostic_code" in case:
            assert info.value.diagnostics[0]["code"] == case["expected_diagnostic_code"]
    else:
        assert keel.compile_skill(inp["text"], inp["context"], inp["documents"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("otlp_config.json"), ids=lambda c: c["name"])
def test_otlp_config(case: dict[str, Any]) -> None:
    inp = case["input"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.otlp_config(inp["options"], inp["env"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
    else:
        assert keel.otlp_config(inp["options"], inp["env"]) == case["expected"]


def corpus_case(name: str) -> dict[str, Any]:
    return next(c for c in load_vectors("skill_corpus.json") if c["name"] == name)


def test_skill_corpus_import_report() -> None:
    case = corpus_case("import_report")
    root = TESTDATA / case["input"]["root"]
    report = keel.import_skills(root)
    files = [
        [str(pathlib.Path(f["file"]).relative_to(root)), f["status"], f["key"], f["namespace"], f["codes"]]
        for f in report["files"]
    ]
    got = {"loads": report["loads"], "warned": report["warned"], "refused": report["refused"], "files": files}
    assert got == case["expected"]


def test_skill_corpus_loaded_skills() -> None:
    case = corpus_case("loaded_skills")
    library = keel.validate_skills(TESTDATA / case["input"]["root"])
    got = []
    for s in library["skills"]:
        d, m = s["doc"], s["doc"]["meta"]
        cc = m["command_centre"]
        got.append({
            "key": d["name"], "namespace": s["namespace"], "display_name": d["display_name"],
            "skill_type": m["skill_type"], "is_active": m["is_active"], "priority": d["priority"],
            "sequence": d["sequence"],
            "triggers": [[t["pattern"], t["intent"], t["confidence"], len(t["examples"])] for t in d["triggers"]],
            "inputs": [[p["name"], p["type"], p["required"]] for p in m["inputs"]],
            "required_context": d["required_context"], "agent_affinity": m["agent_affinity"],
            "timeout_ms": m["timeout_ms"], "deprecated_by": m["deprecated_by"],
            "command_centre": cc["label"] if cc else None,
        })
    assert got == case["expected"]


def test_skill_corpus_portable_findings() -> None:
    case = corpus_case("portable_findings")
    library = keel.validate_skills(TESTDATA / case["input"]["root"], portable=True)
    codes: dict[str, int] = {}
    for d in library["diagnostics"]:
        if d["severity"] == "error":
            codes[d["code"]] = codes.get(d["code"], 0) + 1
    assert codes == case["expected"]


async def test_skill_corpus_views_per_channel(db: keel.Keel) -> None:
    """The same corpus synced with force on both backends: each channel's keys and shadows."""
    case = corpus_case("views_per_channel")
    skills = await db.skill_registry()
    await skills.sync(TESTDATA / case["input"]["root"], force=True)
    org = str(uuid.UUID(int=7))
    got = {}
    for channel in ["web", "slack", "fleet", "command_centre"]:
        view = await skills.resolve_skills(org, channel)
        got[channel] = {"skills": view.keys(), "shadowed": [[s["key"], s["reason"]] for s in view.shadowed]}
    assert got == case["expected"]
    # The resolved view carries the corpus's fields, snake_case.
    deal = (await skills.resolve_skills(org, "slack")).get("slack-deal-query")
    assert deal is not None
    front = deal.frontmatter
    assert front["display_name"] == "Slack Deal Query"
    assert front["meta"]["agent_affinity"] == ["slack"] and front["meta"]["context_profile"] == "sales"
    assert front["meta"]["inputs"][0] == {"name": "raw_query", "type": "string", "required": True,
                                          "description": "The message as the user wrote it"}
    assert front["triggers"][0]["intent"] == "deal_query"


@pytest.mark.parametrize("case", load_vectors("skill_channels.json"), ids=lambda c: c["name"])
def test_skill_channels(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.channel_namespaces(case["input"]["channel"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
    else:
        assert keel.channel_namespaces(case["input"]["channel"]) == case["expected"]


def _report_kwargs(report: Any) -> dict[str, Any]:
    """A failure report in Python's keyword form (`kind=` or `status=`)."""
    if report is None:
        return {}
    if isinstance(report, str):
        return {"kind": report}
    if isinstance(report, dict):
        status = report.get("status", report.get("status_code"))
        return {k: v for k, v in (("kind", report.get("kind")), ("status", status)) if v is not None}
    return {"status": report}


@pytest.mark.parametrize("case", load_vectors("failure_reports.json"), ids=lambda c: c["name"])
async def test_failure_reports(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    report = _report_kwargs(case["input"]["report"])
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            await default_router.record_failure("claude-sonnet-4-6", **report)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
    else:
        assert {"first_failure": await default_router.record_failure("claude-sonnet-4-6", **report)} == case["expected"]


async def _open_with(target: str, db: keel.Keel, options: dict[str, Any]) -> Any:
    if target == "router":
        return await db.model_router(**options)
    if target == "registry":
        return await db.skill_registry(**options)
    if target == "cleanup":
        return await db.cleanup_logs(**options)
    other = await keel._native.connect("sqlite::memory:", **options)
    await other.close()
    return other


@pytest.mark.parametrize("case", load_vectors("options.json"), ids=lambda c: c["name"])
async def test_options(case: dict[str, Any]) -> None:
    """Python passes keyword arguments through; core applies defaults and checks."""
    db = await keel.connect("sqlite::memory:")
    inp = case["input"]
    try:
        if "expected_error_code" in case:
            with pytest.raises(keel.KeelError) as info:
                await _open_with(inp["target"], db, inp["options"])
            assert info.value.code == case["expected_error_code"]
            if case["expected_error_field"]:
                assert info.value.field == case["expected_error_field"]
        else:
            await _open_with(inp["target"], db, inp["options"])
    finally:
        await db.close()


@pytest.mark.parametrize("case", load_vectors("llm_requests.json"), ids=lambda c: c["name"])
async def test_llm_requests(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    """Requests a model call refuses before any HTTP request."""
    llm = default_router.llm()
    with pytest.raises(keel.KeelError) as info:
        await llm.complete(**case["input"]["request"])
    assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])


@pytest.mark.parametrize("case", load_vectors("charges.json"), ids=lambda c: c["name"])
async def test_charges(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    """The amount core charges, seen as the balance it leaves."""
    inp = dict(case["input"])
    org = str(uuid.uuid4())
    await default_router.grant_credits(org, 100)
    if not inp.pop("no_resolution", False):
        inp["resolution"] = default_router.resolve_model(inp.pop("feature"), inp.pop("tier"))
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            await default_router.deduct_credits(org, **inp)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
    else:
        moved = await default_router.deduct_credits(org, **inp)
        assert 100 - moved.balance_after == pytest.approx(case["expected"]["amount"])


@pytest.mark.parametrize("case", load_vectors("credit_flows.json"), ids=lambda c: c["name"])
async def test_credit_flows(case: dict[str, Any], default_router: keel.ModelRouter) -> None:
    """One rule for an org with no balance row, in check_budget and deduct alike."""
    org = str(uuid.uuid4())
    for step in case["steps"]:
        op, amount = step["op"], step.get("amount")
        call: Awaitable[Any]
        if op == "check_budget":
            call = default_router.check_budget(org)
        elif op == "grant":
            call = default_router.grant_credits(org, amount)
        else:
            call = default_router.deduct_credits(org, amount=amount)
        if "expected_error_code" in step:
            with pytest.raises(keel.KeelError) as info:
                await call
            assert info.value.code == step["expected_error_code"]
            continue
        got = await call
        for key, want in step["expected"].items():
            assert getattr(got, key) == pytest.approx(want), (case["name"], key)


def test_every_file_in_testdata_has_a_runner() -> None:
    """The files are found by listing the folder: a new one that no test loads fails here."""
    files = sorted(str(p.relative_to(TESTDATA)) for p in TESTDATA.rglob("*.json"))
    assert len(files) >= 15
    assert files == sorted(LOADED), f"no runner for {sorted(set(files) - LOADED)}"


@pytest.mark.parametrize("case", load_vectors("compaction_plans.json"), ids=lambda c: c["name"])
def test_compaction_plan(case: dict[str, Any]) -> None:
    messages, options = case["input"]["messages"], case["input"]["options"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.plan_compaction(messages, **options)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.plan_compaction(messages, **options) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("token_counts.json"), ids=lambda c: c["name"])
def test_token_count(case: dict[str, Any]) -> None:
    text, encoding = case["input"]["text"], case["input"]["encoding"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.count_tokens(text, encoding)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.count_tokens(text, encoding) == case["expected"]["tokens"]


@pytest.mark.parametrize("case", load_vectors("message_tokens.json"), ids=lambda c: c["name"])
def test_message_tokens(case: dict[str, Any]) -> None:
    model, messages = case["input"]["model"], case["input"]["messages"]
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.count_message_tokens(model, messages)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.count_message_tokens(model, messages) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("context_blocks.json"), ids=lambda c: c["name"])
def test_context_block(case: dict[str, Any]) -> None:
    inp = case["input"]
    run = lambda: keel.format_prior_context(inp["message"], inp["rows"], now=inp["now"])  # noqa: E731
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            run()
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    prior = run()
    got = {"terms": prior["terms"], "chosen": [[e["entry"]["entity_id"], e["score"]] for e in prior["entries"]], "block": prior["block"]}
    assert got == case["expected"]


@pytest.mark.parametrize("case", load_vectors("recall_rankings.json"), ids=lambda c: c["name"])
def test_recall_ranking(case: dict[str, Any]) -> None:
    inp = case["input"]
    run = lambda: keel.rank_facts(inp["query"], inp["facts"], now=inp["now"], limit=inp["limit"])  # noqa: E731
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            run()
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    got = run()
    assert [r["fact"]["id"] for r in got] == [e["id"] for e in case["expected"]]
    for r, e in zip(got, case["expected"]):
        for key in ("score", "bm25", "recency", "access"):
            assert r[key] == pytest.approx(e[key], abs=2e-6), key


@pytest.mark.parametrize("case", load_vectors("fact_extraction.json"), ids=lambda c: c["name"])
def test_fact_extraction(case: dict[str, Any]) -> None:
    inp = dict(case["input"])
    answer = inp.pop("answer")
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.read_fact_extraction(answer, **inp)
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    got = keel.read_fact_extraction(answer, **inp)
    rejected = [{"index": r["index"], "field": r["field"]} for r in got["rejected"]]
    assert {"facts": got["facts"], "rejected": rejected, "below_confidence": got["below_confidence"]} == case["expected"]


@pytest.mark.parametrize("case", load_vectors("failure_kinds.json"), ids=lambda c: c["name"])
def test_failure_kinds(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.classify_failure(**case["input"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.classify_failure(**case["input"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("agent_configs.json"), ids=lambda c: c["name"])
def test_agent_configs(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.agent_config(**case["input"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.agent_config(**case["input"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("rate_limit_decisions.json"), ids=lambda c: c["name"])
def test_rate_limit_decisions(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.rate_limit_decide(**case["input"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.rate_limit_decide(**case["input"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("retry_schedules.json"), ids=lambda c: c["name"])
def test_retry_schedules(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        with pytest.raises(keel.KeelError) as info:
            keel.retry_delays(**case["input"])
        assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])
        return
    assert keel.retry_delays(**case["input"]) == case["expected"]


def _raises_field(case: dict[str, Any], call: Any) -> None:
    with pytest.raises(keel.KeelError) as info:
        call()
    assert (info.value.code, info.value.field) == (case["expected_error_code"], case["expected_error_field"])


@pytest.mark.parametrize("case", load_vectors("minhash_signatures.json"), ids=lambda c: c["name"])
def test_minhash_signatures(case: dict[str, Any]) -> None:
    call = lambda: keel.minhash(case["input"]["text"], **case["input"]["options"])  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    sig = call()
    assert sig.values == case["expected"]["values"]
    assert sig.to_bytes().hex() == case["expected"]["bytes"]
    assert keel.MinHash.from_bytes(sig.to_bytes()) == sig
    assert keel.MinHasher(**case["input"]["options"]).signature(case["input"]["text"]) == sig


@pytest.mark.parametrize("case", load_vectors("lsh_params.json"), ids=lambda c: c["name"])
def test_lsh_params(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        _raises_field(case, lambda: keel.MinHashLsh(**case["input"]))
        return
    lsh = keel.MinHashLsh(**case["input"])
    assert (lsh.bands, lsh.rows) == (case["expected"]["bands"], case["expected"]["rows"])
    assert lsh.confirm_at == pytest.approx(case["expected"]["confirm_at"], abs=1e-9)


@pytest.mark.parametrize("case", load_vectors("lsh_queries.json"), ids=lambda c: c["name"])
def test_lsh_queries(case: dict[str, Any]) -> None:
    lsh = keel.MinHashLsh(threshold=case["input"]["threshold"])
    for item in case["input"]["items"]:
        lsh.insert(item["key"], keel.minhash(item["text"]))
    query = keel.minhash(case["input"]["query"])
    assert {"candidates": lsh.candidates(query), "similar": lsh.query(query)} == case["expected"]


@pytest.mark.parametrize("case", load_vectors("dedup_keys.json"), ids=lambda c: c["name"])
def test_dedup_keys(case: dict[str, Any]) -> None:
    if "expected_error_code" in case:
        _raises_field(case, lambda: keel.dedup_key(**case["input"]))
        return
    assert keel.dedup_key(**case["input"]) == case["expected"]


@pytest.mark.parametrize("case", load_vectors("dedup_merges.json"), ids=lambda c: c["name"])
def test_dedup_merges(case: dict[str, Any]) -> None:
    options = {k: v for k, v in case["input"].items() if k != "reports"}
    call = lambda: keel.merge_reports(case["input"]["reports"], **options)  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    assert call() == case["expected"]


@pytest.mark.parametrize("case", load_vectors("thread_answers.json"), ids=lambda c: c["name"])
def test_thread_answers(case: dict[str, Any]) -> None:
    call = lambda: keel.read_thread_context(case["input"]["answer"])  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    assert call() == case["expected"]


@pytest.mark.parametrize("case", load_vectors("thread_transcripts.json"), ids=lambda c: c["name"])
def test_thread_transcripts(case: dict[str, Any]) -> None:
    options = {k: v for k, v in case["input"].items() if k != "messages"}
    call = lambda: keel.thread_transcript(case["input"]["messages"], **options)  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    assert call() == case["expected"]


@pytest.mark.parametrize("case", load_vectors("fleet_statuses.json"), ids=lambda c: c["name"])
def test_fleet_statuses(case: dict[str, Any]) -> None:
    call = lambda: keel.agent_status(case["input"]["metrics"], now=case["input"]["now"])  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    assert call() == case["expected"]


@pytest.mark.parametrize("case", load_vectors("fleet_alerts.json"), ids=lambda c: c["name"])
def test_fleet_alerts(case: dict[str, Any]) -> None:
    options = {k: v for k, v in case["input"].items() if k not in ("state", "status")}
    call = lambda: keel.next_alert(case["input"]["state"], case["input"]["status"], **options)  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    assert call() == case["expected"]


@pytest.mark.parametrize("case", load_vectors("fleet_notices.json"), ids=lambda c: c["name"])
def test_fleet_notices(case: dict[str, Any]) -> None:
    call = lambda: keel.fleet_alert_message(case["input"]["notice"])  # noqa: E731
    if "expected_error_code" in case:
        _raises_field(case, call)
        return
    assert call() == case["expected"]
