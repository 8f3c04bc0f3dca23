"""Every public function and method of ``keel._native``, called with hostile values.

A failure is always a :class:`keel.KeelError` with one of Keel's stable codes (never PyO3's own
``TypeError``/``OverflowError``/``UnicodeEncodeError``, never ``PanicException``, never the
caller's own exception escaping from a dunder method); nothing crashes or hangs; and calls that
fail leave the stored data as it was. Functions and methods are enumerated from the module, so
an export added later is covered from its first day.
"""

from __future__ import annotations

import asyncio
import inspect
import pathlib
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import keel
from keel import _native
from test_memory import SMALL, rounds

SKILLS = pathlib.Path(__file__).resolve().parents[2] / "skills"


class Throwing:
    """Every conversion hook raises."""

    def _boom(self, *args: Any) -> Any:
        raise RuntimeError("hostile dunder")

    __str__ = __repr__ = __fspath__ = __index__ = __float__ = __int__ = _boom
    __len__ = __iter__ = __getitem__ = __hash__ = __bool__ = _boom  # type: ignore[assignment]


class HostileStr(str):
    def __str__(self) -> str:
        raise RuntimeError("hostile str")

    def __hash__(self) -> int:
        raise RuntimeError("hostile hash")


class HostileFloat(float):
    def __float__(self) -> float:
        raise RuntimeError("hostile float")


class HostileDict(dict[str, Any]):
    def keys(self) -> Any:
        raise RuntimeError("hostile keys")

    def items(self) -> Any:
        raise RuntimeError("hostile items")


def _cyclic() -> tuple[list[Any], dict[str, Any]]:
    as_list: list[Any] = []
    as_list.append(as_list)
    as_dict: dict[str, Any] = {}
    as_dict["self"] = as_dict
    return as_list, as_dict


def _deep(levels: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(levels):
        out = [out]
    return out


CYCLIC_LIST, CYCLIC_DICT = _cyclic()
HOSTILE: list[Any] = [
    None, float("nan"), float("inf"), float("-inf"), -1, 0, -(2**63) - 1, 2**64, 2**31, 1e308,
    True, "", "\udc80", "x\x00y", "a" * 10_000, b"bytes", bytearray(b"ba"), [], {}, (),
    CYCLIC_LIST, CYCLIC_DICT, _deep(2_000), object(), Throwing(), HostileStr("copilot"),
    HostileFloat(1.5), HostileDict(a=1), {"\udc80": 1}, {1: 2}, pathlib.Path("\udc80"),
    (i for i in range(3)), lambda: 1, 1 + 2j, {"model_id": Throwing()},
]
#: Values that are valid for a parameter of this name, so random combinations get past the
#: first argument and reach the checks behind it.
PLAUSIBLE: dict[str, list[Any]] = {
    "org_id": [str(uuid.uuid4())],
    "feature": ["copilot", "fleet_agent"],
    "tier": ["medium", "high"],
    "channel": ["web", "slack"],
    "model_id": ["claude-sonnet-4-6"],
    "provider": ["anthropic"],
    "key": ["deal-status"],
    # The console's calls by name: every read, and an action whose arguments are then hostile.
    "op": [*keel.CONSOLE_READS, "deprecate_skill", "reset_breaker"],
    "amount": [1.0, 10.0],
    "estimate": [1.0],
    "actual": [2.0],
    "text": ["---\nname: x\ndescription: y\n---\nbody ${a}\n", "w " * 5_000_001],
    "minhash": [keel.minhash("Acme renewal at risk")],
    "confidence": [0.5, 1.5],
    "reports": [[{"id": "a", "agent": "x", "context": {"confidence": 0.5}}]],
    "context": [{"a": "b"}],
    "url": ["sqlite::memory:"],
    "path": [str(SKILLS)],
    "out": ["exported"],
    "message": ["summarise my pipeline", "hi"],
    "ts": ["1712345678.000100"],
    "thread_id": [str(uuid.uuid4())],
    "answer": ['{"summary": "ok", "entities": [{"entity_type": "deal", "name": "Acme"}]}'],
    "messages": [[{"seq": 1, "role": "user", "text": "hi", "tokens": 1}]],
    "payload": [{"messages": [{"type": "message", "user": "U1", "text": "hi", "ts": "1712345678.000100"}]}],
    "agent_name": ["cc-enrich", "<b>x</b>"],
    "notice": [{"agent_name": "x", "kind": "raised", "status": "critical", "window_ms": 1, "runs": 0,
                "dead_letters": 0, "at": "2026-12-04T12:00:00Z"}],
}
#: Logger methods take anything and never raise.
NEVER_RAISES = {"debug", "info", "warn", "error", "create_span", "stop", "fail", "child", "log"}
#: Calls that end the handle they are called on, or change what the rest of the process logs
#: to (and take no argument to be hostile with).
# `work` runs until its stop is set (an empty queue waits for items): test_queue.py drives it.
# `check_fleet_health` takes no argument and writes its snapshots by design: test_fleet.py.
SKIP = {"close", "install_log_sink", "work", "check_fleet_health"}


def callables(owner: str, obj: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name in dir(obj):
        if name.startswith("_") or name in SKIP or (owner == "module" and name == "connect"):
            continue
        value = getattr(obj, name)
        if callable(value) and not inspect.isclass(value):
            yield name, value


def arguments(fn: Callable[..., Any], pick: Callable[[str], Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for every parameter of `fn`, each from `pick(name)`."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            args.append(pick(param.name))
        elif param.kind == param.KEYWORD_ONLY:
            kwargs[param.name] = pick(param.name)
        elif param.kind == param.VAR_KEYWORD:
            kwargs["max_connections"] = pick("max_connections")
            kwargs["no_such_option"] = pick("no_such_option")
    return args, kwargs


async def call(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> BaseException | None:
    try:
        out = fn(*args, **kwargs)
        if inspect.isawaitable(out):
            await asyncio.wait_for(out, timeout=20)
    except asyncio.TimeoutError:
        shown = [type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()]
        raise AssertionError(f"{fn.__qualname__}({', '.join(shown)}) hung") from None
    except BaseException as err:  # noqa: BLE001 (the point: nothing but KeelError may escape)
        return err
    return None


def snapshot(path: pathlib.Path) -> dict[str, list[str]]:
    """Every row of every Keel table but the log (which logging calls append to)."""
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"')))
            for name in names
            if name != "system_logs"
        }


async def targets(db: keel.Keel) -> list[tuple[str, Any]]:
    router = await db.model_router()
    skills = await db.skill_registry()
    await skills.sync(str(SKILLS))
    org = str(uuid.uuid4())
    await router.grant_credits(org, 100.0)
    view = await skills.resolve_skills(org, "web")
    logger = db.create_logger("hostile")
    return [
        ("module", _native), ("db", db), ("router", router), ("skills", skills),
        ("resolution", router.resolve_model("copilot")), ("view", view), ("llm", router.llm(attempt_timeout=1)),
        ("skill", view.skills[0]), ("logger", logger), ("span", logger.create_span("hostile")),
        ("messages", skills.message_router()), ("conversations", db.conversations()),
        ("dead_letters", db.dead_letters()), ("runs", db.runs()),
        ("queue", db.queue()), ("limiter", keel.LocalLimiter()), ("shared_limiter", db.shared_limiter()),
        ("url", keel.parse_database_url("sqlite::memory:")),
        ("dedup", db.dedup()), ("lsh", keel.MinHashLsh()), ("minhasher", keel.MinHasher()),
        ("signature", keel.minhash("Acme renewal at risk")),
        # A closed port, no retries and no waiting: each call fails at once, as it must.
        ("slack", db.slack(token="xoxb-hostile", base_url="http://127.0.0.1:9/api",
                           max_retries=0, max_wait_ms=1, timeout_ms=200)),
        ("slack_threads", db.slack_threads()),
        ("fleet", db.fleet()),
        ("console", await db.console(allow_actions=True)),
    ]


def contract(owner: str, name: str, err: BaseException | None, codes: set[str]) -> str | None:
    """What is wrong with how a call failed, or None."""
    if err is None:
        return None
    if owner in ("logger", "span") and name in NEVER_RAISES:
        return f"{owner}.{name} raised {type(err).__name__}: {err}"[:160]
    if not isinstance(err, keel.KeelError) or err.code not in codes:
        return f"{owner}.{name}: {type(err).__name__}: {err}"[:160]
    if err.code == "invalid_input" and not (isinstance(err, TypeError) and isinstance(err, ValueError)):
        return f"{owner}.{name}: invalid_input is not a TypeError and a ValueError"
    return None


async def test_every_export_keeps_the_error_contract(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Calls that write files (`export_skills`) write under tmp_path, whatever relative path a
    # hostile value names.
    monkeypatch.chdir(tmp_path)
    codes = set(keel.error_codes())
    path = tmp_path / "hostile.db"
    db = await keel.connect(f"sqlite://{path}")
    started = time.monotonic()
    try:
        objects = await targets(db)
        before = snapshot(path)
        assert len(before["platform_skills"]) >= 32 and len(before["org_credit_balance"]) == 1
        broken: list[str] = []
        calls = 0
        # Every parameter hostile at once: each call must fail cleanly, and leave no trace.
        for owner, obj in objects:
            for name, fn in callables(owner, obj):
                for value in HOSTILE:
                    args, kwargs = arguments(fn, lambda _: value)
                    calls += 1
                    if problem := contract(owner, name, await call(fn, args, kwargs), codes):
                        broken.append(problem)
        assert snapshot(path) == before, "failed calls changed stored data"
        # Random combinations of hostile and plausible values reach the later checks.
        rng = random.Random(20261202)
        for owner, obj in objects:
            for name, fn in callables(owner, obj):
                for _ in range(40):
                    pick = lambda p: rng.choice(HOSTILE + PLAUSIBLE.get(p, []) * 8)  # noqa: E731
                    args, kwargs = arguments(fn, pick)
                    calls += 1
                    if problem := contract(owner, name, await call(fn, args, kwargs), codes):
                        broken.append(problem)
        assert calls > 3_000, calls
        assert broken[:20] == [], f"{len(broken)} of {calls} calls broke the contract"
        assert time.monotonic() - started < 90, "bounded in time"
    finally:
        await db.close()


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
async def test_connect_with_hostile_values_is_a_keel_error(value: Any) -> None:
    """`connect` is left out above (each value would open a database); here each hostile value
    goes to the URL and to each option."""
    for url, options in [(value, {}), ("sqlite::memory:", {"max_connections": value}),
                         ("sqlite::memory:", {"connect_timeout": value})]:
        try:
            db = await asyncio.wait_for(_native.connect(url, **options), timeout=20)
        except asyncio.TimeoutError:
            raise AssertionError(f"connect({type(url).__name__}, {options!r:.80}) hung") from None
        except keel.KeelError as err:
            assert err.code in keel.error_codes(), repr(err)
        else:  # a value that is valid there (None for an option) connects
            await db.close()


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
async def test_hostile_transports_are_a_keel_error(value: Any, tmp_path: pathlib.Path) -> None:
    """Whatever stands in for the transports or for one of them: a typed error, or a client."""
    db = await keel.connect(f"sqlite://{tmp_path / 'keel.db'}")
    router = await db.model_router(seed_defaults=False)
    for transports in (value, {"anthropic": value}):
        try:
            router.llm(transports=transports)
        except keel.KeelError as err:
            assert err.code in keel.error_codes(), repr(err)
        except BaseException as err:  # noqa: BLE001
            raise AssertionError(f"transports={type(transports).__name__}: {type(err).__name__}: {err}") from None
    await db.close()


class HostileFailure(Exception):
    """What an SDK raises, every attribute core reads set to one hostile value, its text raising."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.status_code = self.status = self.headers = self.response = self.body = value

    def __str__(self) -> str:
        raise RuntimeError("hostile str")


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
async def test_hostile_transport_answers_end_a_driven_call_typed(value: Any, tmp_path: pathlib.Path) -> None:
    """Whatever a transport answers or raises, or a transport that is not async, on a call
    driven on the event loop (`keel._drive`): the call ends with a typed error carrying its
    attempt, never the transport's own exception, a panic or a hang; a second call on the same
    client still works."""
    db = await keel.connect(f"sqlite://{tmp_path / 'keel.db'}")
    router = await db.model_router(seed_defaults=False)
    reply = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    hostile = True
    tasks: list[Any] = []

    async def answers(request: dict[str, Any]) -> Any:
        tasks.append(asyncio.current_task())
        return value if hostile else reply

    async def raises(request: dict[str, Any]) -> Any:
        tasks.append(asyncio.current_task())
        if hostile:
            raise HostileFailure(value)
        return reply

    def not_async(request: dict[str, Any]) -> Any:
        tasks.append(asyncio.current_task())
        return value if hostile else asyncio.sleep(0, reply)

    for transport in (answers, raises, not_async):
        llm = router.llm(transports={"openai": transport})
        hostile = True
        try:
            async with asyncio.timeout(20):
                done = await llm.complete(provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except keel.KeelError as err:
            assert err.code in keel.error_codes(), repr(err)
            assert [a["provider"] for a in err.attempts] == ["openai"], (transport.__name__, err.attempts)
        except BaseException as err:  # noqa: BLE001
            raise AssertionError(f"{transport.__name__}: {type(err).__name__}: {err!r:.200}") from None
        else:
            raise AssertionError(f"{transport.__name__} answered {value!r:.80}: {done}")
        hostile = False
        async with asyncio.timeout(20):
            done = await llm.complete(provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert done["text"] == "ok", done
    # Driven: every attempt ran in this task, not on Keel's runtime.
    assert tasks == [asyncio.current_task()] * 6, tasks
    await db.close()


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: type(v).__name__)
async def test_hostile_host_models_are_a_keel_error_or_fall_through(value: Any, tmp_path: pathlib.Path) -> None:
    """Whatever stands in for a model task's host function, or whatever one answers: a typed
    error when the router or the compaction is asked for, else a route that falls through and
    a compaction that trims unless it was given text."""
    db = await keel.connect(f"sqlite://{tmp_path / 'keel.db'}")
    registry = await db.skill_registry()
    await registry.sync(SKILLS)
    org = str(uuid.uuid4())

    async def answers(task: Any) -> Any:
        return value

    for model in (value, answers):
        for field in ("classifier", "embedder"):
            try:
                router = registry.message_router(
                    thresholds={"sequence": 1.0, "skill": 1.0}, log=False, llm_timeout=1.0, **{field: model}
                )
            except keel.KeelError as err:
                assert err.code in keel.error_codes(), repr(err)
                continue
            d = await router.route("how is the Globex deal going", "web", org, allow_llm=True)
            assert d["stage"] == "fallback", (field, d["stage"])
        store = db.conversations()
        c = await store.start(org, "U1", "web")
        await store.append(org, c["id"], rounds(100))
        try:
            done = await store.compact(org, c["id"], summarizer=model, **SMALL)
        except keel.KeelError as err:
            assert err.code in keel.error_codes(), repr(err)
        else:
            # Text that is not blank is a summary (a lone surrogate arrives as U+FFFD); nothing else is.
            text = model is answers and isinstance(value, str) and str.strip(value) != ""
            assert done["compaction"] is not None, done
            assert done["compaction"]["method"] == ("summary" if text else "trim"), (repr(value), done)
    await db.close()


#: Hostile leaves: what a valid argument can hold deep inside (a NUL reached PostgreSQL's
#: text and jsonb nested in a message's tool-call arguments and a queue item's context).
LEAVES: list[Any] = [
    "x\x00y", "\x00", "\\u0000", "", "\udc80", "\u202eevil", "a" * 1_000_000, float("nan"),
    float("inf"), 2**64, -(2**63) - 1, _deep(10_000), {"\x00": "k"}, {"\udc80": 1}, b"\x00",
    Throwing(),
]


SKILL_MD = "---\nname: deal-status\ndescription: The deal's status {}\n---\nSay where {} stands.\n"


def inside(template: str, leaf: Any) -> Any:
    """`template` with a string leaf in each `{}`; any other leaf as it is."""
    return template.replace("{}", leaf) if isinstance(leaf, str) else leaf


def nested_calls(
    db: keel.Keel, router: Any, skills: Any, org: str, user: str, cid: str, thread: str
) -> list[tuple[str, Callable[[Any], Any]]]:
    """Write and read calls whose arguments are valid but for one leaf `h` somewhere inside."""
    conv, queue, letters = db.conversations(), db.queue(), db.dead_letters()
    dedup, threads, fleet = db.dedup(), db.slack_threads(), db.fleet()
    messages = skills.message_router()
    item = {"org_id": org, "source_agent": "hostile", "item_type": "deal_risk", "title": "t"}
    failure = {"message": "boom", "kind": "transient"}
    fact = {"category": "deal", "subject": "Acme", "content": "renewal in May"}

    async def on_claimed(outcome: Callable[[Any], Any]) -> Any:
        await queue.enqueue([{**item, "queue_priority": 0}])
        [claimed] = await queue.claim("hostile-worker", n=1)
        return await outcome(claimed)

    async def on_letter(operation: Callable[[Any], Any]) -> Any:
        return await operation(await letters.enqueue(agent_name="hostile", errors=[failure]))

    def answer(value: Any) -> Callable[[Any], Any]:
        async def executor(_ctx: Any) -> Any:
            return {"out": value}
        return executor

    def stepped(value: Any) -> Callable[[Any], Any]:
        async def executor(ctx: Any) -> Any:
            return await ctx.step("hostile step", answer(value))
        return executor

    def failing(value: Any) -> Callable[[Any], Any]:
        async def executor(_ctx: Any) -> Any:
            raise RuntimeError(value)
        return executor

    return [
        ("start title", lambda h: conv.start(org, user, "web", title=h)),
        ("start channel_ref", lambda h: conv.start(org, user, "slack", channel_ref=h)),
        ("start user_id", lambda h: conv.start(org, h, "web")),
        ("append content", lambda h: conv.append(org, cid, [{"role": "user", "content": h}])),
        ("append text part", lambda h: conv.append(org, cid, [{"role": "user", "content": [{"type": "text", "text": h}]}])),
        ("append tool arguments", lambda h: conv.append(org, cid, [{"role": "assistant", "content": [
            {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"q": h, "list": [h]}}]}])),
        ("append tool result", lambda h: conv.append(org, cid, [{"role": "tool", "content": [
            {"type": "tool_result", "call_id": "c1", "content": h}]}])),
        ("upsert_context summary", lambda h: conv.upsert_context(
            org_id=org, user_id=user, channel="web", entity_type="deal", entity_id="d1", summary=h)),
        ("upsert_context entity_name", lambda h: conv.upsert_context(
            org_id=org, user_id=user, channel="slack", entity_type="deal", entity_id="d1", summary="s", entity_name=h)),
        ("add_facts content", lambda h: conv.add_facts(org, user, [{**fact, "content": h}])),
        ("add_facts subject", lambda h: conv.add_facts(org, user, [{**fact, "subject": h}])),
        ("add_facts deal_name", lambda h: conv.add_facts(org, user, [{**fact, "deal_name": h}])),
        ("add_facts user_id", lambda h: conv.add_facts(org, h, [fact])),
        ("add_facts idempotency_key", lambda h: conv.add_facts(org, user, [fact], idempotency_key=h)),
        ("compact idempotency_key", lambda h: conv.compact(org, cid, threshold=100, recent_tokens=10,
                                                          min_recent=1, idempotency_key=h)),
        ("upsert_context entity_id", lambda h: conv.upsert_context(
            org_id=org, user_id=user, channel="web", entity_type="deal", entity_id=h, summary="s")),
        ("upsert_context agent_name", lambda h: conv.upsert_context(
            org_id=org, user_id=user, channel="agent", entity_type="deal", entity_id="d1", summary="s", agent_name=h)),
        ("enqueue title", lambda h: queue.enqueue([{**item, "title": h}])),
        ("enqueue summary", lambda h: queue.enqueue([{**item, "summary": h}])),
        ("enqueue context", lambda h: queue.enqueue([{**item, "context": {"k": h, "list": [1, h]}}])),
        ("enqueue source_event_id", lambda h: queue.enqueue([{**item, "source_event_id": h}])),
        ("enqueue source_agent", lambda h: queue.enqueue([{**item, "source_agent": h}])),
        ("enqueue item_type", lambda h: queue.enqueue([{**item, "item_type": h}])),
        ("dead letter payload", lambda h: letters.enqueue(agent_name="hostile", payload={"k": [h]}, errors=[failure])),
        ("dead letter failure", lambda h: letters.enqueue(agent_name="hostile", errors=[{**failure, "message": h}])),
        ("dead letter steps", lambda h: letters.enqueue(agent_name="hostile", errors=[failure], steps={"s": h})),
        ("dead letter agent_name", lambda h: letters.enqueue(agent_name=h, errors=[failure])),
        ("dead letter trigger_type", lambda h: letters.enqueue(agent_name="a", trigger_type=h, errors=[failure])),
        ("dead letter org_id", lambda h: letters.enqueue(agent_name="a", org_id=h, errors=[failure])),
        ("dead letter idempotency_key", lambda h: letters.enqueue(agent_name="a", idempotency_key=h, errors=[failure])),
        ("dead letter worker", lambda h: letters.enqueue(agent_name="a", errors=[{**failure, "worker": h}])),
        ("dedup enqueue title", lambda h: dedup.enqueue([{**item, "title": h}])),
        ("dedup enqueue context", lambda h: dedup.enqueue([{**item, "context": {"confidence": h}}])),
        ("slack add_messages text", lambda h: threads.add_messages(org, thread, [
            {"slack_ts": "1712345678.000200", "role": "user", "text": h}])),
        ("slack add_messages metadata", lambda h: threads.add_messages(org, thread, [
            {"slack_ts": "1712345678.000300", "role": "user", "text": "t", "metadata": {"k": h}}])),
        ("slack add_messages slack_user", lambda h: threads.add_messages(org, thread, [
            {"slack_ts": "1712345678.000400", "role": "user", "text": "t", "slack_user": h}])),
        ("slack add_messages intent", lambda h: threads.add_messages(org, thread, [
            {"slack_ts": "1712345678.000500", "role": "user", "text": "t", "intent": h}])),
        ("slack get_or_create title", lambda h: threads.get_or_create(
            org_id=org, user_id=user, slack_team_id="T1", slack_channel_id="C2", slack_thread_ts="1712345678.000100", title=h)),
        ("slack get_or_create channel", lambda h: threads.get_or_create(
            org_id=org, user_id=user, slack_team_id="T1", slack_channel_id=h, slack_thread_ts="1712345678.000100")),
        ("slack get_or_create user_id", lambda h: threads.get_or_create(
            org_id=org, user_id=h, slack_team_id="T1", slack_channel_id="C3", slack_thread_ts="1712345678.000100")),
        ("slack record_turn intent", lambda h: threads.record_turn(org, thread, intent=h)),
        ("slack record_turn action", lambda h: threads.record_turn(org, thread, intent="help", action={"k": h})),
        ("fleet set_agent description", lambda h: fleet.set_agent("hostile-agent", cadence_ms=60_000, description=h)),
        ("fleet set_agent name", lambda h: fleet.set_agent(h, cadence_ms=60_000)),
        ("fleet set_agent models", lambda h: fleet.set_agent("hostile-agent", models=[h])),
        ("set_org_context", lambda h: skills.set_org_context(org, {"company": h})),
        ("route", lambda h: messages.route(h, "web", org, user)),
        ("route user", lambda h: messages.route("summarise my pipeline", "slack", org, h)),
        ("record_failure model_id", lambda h: router.record_failure(h, "anthropic")),
        ("record_success provider", lambda h: router.record_success("claude-sonnet-4-6", h)),
        ("set_model model_id", lambda h: router.set_model("copilot", "medium", "anthropic", h, org_id=org)),
        ("set_model feature", lambda h: router.set_model(h, "medium", "anthropic", "m1", org_id=org)),
        ("set_org_tier feature", lambda h: router.set_org_tier(org, h, "high")),
        ("deduct_credits agent_name", lambda h: router.deduct_credits(org, 1.0, agent_name=h)),
        ("deduct_credits feature", lambda h: router.deduct_credits(org, 1.0, feature=h)),
        ("deduct_credits user_id", lambda h: router.deduct_credits(org, 1.0, user_id=h)),
        ("deduct_credits idempotency_key", lambda h: router.deduct_credits(org, 1.0, idempotency_key=h)),
        ("grant_credits kind", lambda h: router.grant_credits(org, 1.0, kind=h)),
        ("reserve_credits idempotency_key", lambda h: router.reserve_credits(org, 1.0, h)),
        ("forget_context entity_id", lambda h: conv.forget_context(org, user, "deal", h)),
        ("log message", lambda h: db.create_logger("hostile").info(h, {"k": h})),
        ("complete context", lambda h: on_claimed(lambda i: queue.complete(i["id"], i["lease_token"], context={"k": h}))),
        ("fail reason", lambda h: on_claimed(lambda i: queue.fail(i["id"], i["lease_token"], h))),
        ("abandon reason", lambda h: on_letter(lambda letter: letters.abandon(letter["id"], reason=h))),
        ("deprecate reason", lambda h: skills.deprecate("deal-status", h)),
        ("replace skill_md", lambda h: skills.replace(org, "deal-status", inside(SKILL_MD, h))),
        ("ingest text", lambda h: threads.ingest(org, thread, {"messages": [
            {"type": "message", "user": "U1", "text": h, "ts": "1712345678.000600"}]})),
        ("run payload", lambda h: db.run_agent({"agent_name": "hostile-run", "payload": {"k": h}}, answer(h))),
        ("run triggered_by", lambda h: db.run_agent({"agent_name": "hostile-run", "triggered_by": h}, answer(1))),
        ("run trigger_type", lambda h: db.run_agent({"agent_name": "hostile-run", "trigger_type": h}, answer(1))),
        ("run user_id", lambda h: db.run_agent({"agent_name": "hostile-run", "user_id": h}, answer(1))),
        ("run idempotency_key", lambda h: db.run_agent({"agent_name": "hostile-run", "idempotency_key": h}, answer(1))),
        ("run step", lambda h: db.run_agent({"agent_name": "hostile-run"}, stepped(h))),
        ("run failure", lambda h: db.run_agent({"agent_name": "hostile-run", "max_retries": 0}, failing(h))),
        # Reads whose filters hold the leaf.
        ("facts user_id", lambda h: conv.facts(org, h)),
        ("context_for_user user_id", lambda h: conv.context_for_user(org, h)),
        ("prior_context message", lambda h: conv.prior_context(org, user, h)),
        ("letters agent_name", lambda h: letters.list(agent_name=h)),
        ("letters org_id", lambda h: letters.list(org_id=h)),
        ("runs agent_name", lambda h: db.runs().list(agent_name=h)),
        ("claim worker", lambda h: queue.claim(h, n=1)),
        ("fleet alerts agent_name", lambda h: fleet.alerts(h)),
        ("fleet remove_agent", lambda h: fleet.remove_agent(h)),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_hostile_values_nested_in_valid_arguments(backend: str, tmp_path: pathlib.Path) -> None:
    """One hostile leaf inside otherwise valid arguments reaches storage on both backends: each
    call answers or fails with a stable code that is neither ``internal`` nor ``storage``, what
    was written reads back, and a bystander org's rows are untouched."""
    from conftest import fresh_url

    db = await keel.connect(await fresh_url(backend, tmp_path))
    try:
        skills = await db.skill_registry()
        await skills.sync(str(SKILLS))
        router = await db.model_router()
        org, user, bystander = (str(uuid.uuid4()) for _ in range(3))
        await router.grant_credits(org, 100.0)
        conv, queue = db.conversations(), db.queue()
        cid = (await conv.start(org, user, "web"))["id"]
        kept_cid = (await conv.start(bystander, user, "web"))["id"]
        await conv.append(bystander, kept_cid, [{"role": "user", "content": "keep me"}])
        [kept] = await queue.enqueue([{"org_id": bystander, "source_agent": "a", "item_type": "t", "title": "keep me"}])
        thread = (await db.slack_threads().get_or_create(
            org_id=org, user_id=user, slack_team_id="T1", slack_channel_id="C1", slack_thread_ts="1712345678.000100"))["id"]
        codes = set(keel.error_codes()) - {"internal", "storage"}
        broken: list[str] = []
        ran = 0
        for label, make in nested_calls(db, router, skills, org, user, cid, thread):
            for leaf in LEAVES:
                err = await call(make, [leaf], {})
                ran += label.startswith("run ") and err is None
                if err is not None and (not isinstance(err, keel.KeelError) or err.code not in codes):
                    broken.append(f"{label} with {type(leaf).__name__} {str(leaf)[:20]!r}: {type(err).__name__}: {err}"[:200])
        assert broken == [], '\n'.join(broken)
        # What was written reads back, and the bystander's rows are as they were.
        written = await conv.messages(org, cid)
        assert len(written) > 20 and all(isinstance(m["content"], list) for m in written)
        assert [m["content"] for m in await conv.messages(bystander, kept_cid)] == [[{"type": "text", "text": "keep me"}]]
        assert (await queue.get(kept))["title"] == "keep me"
        await db.dead_letters().list()
        await db.slack_threads().get(org, thread)
        await conv.facts(org, user)
        # Every run that answered was written, whatever its payload, steps, output or failure.
        await db.runs().flush()
        assert len(await db.runs().list(agent_name="hostile-run", limit=1000)) == ran, backend
    finally:
        await db.close()
