"""One soak worker in Python: the platform loop of soak/README.md until SIGTERM.

    python soak/worker.py '{"id": "py-1", "incarnation": 0, "url": "postgres://…", …}'

The same loop runs in soak/worker.mjs and soak/worker.rs; soak/run.py starts them, injects
faults and checks the invariants from what they wrote (one JSON line per operation in
`out`) and from the database.
"""

import asyncio
import json
import random
import signal
import sys
import time
from typing import Any

import keel


class Unavailable(Exception):
    status_code = 503


class Journal:
    """One JSON line per operation, flushed, so a killed worker's record ends where it died."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8")

    def write(self, op: str, started: float, ok: bool, code: str | None = None, **extra: Any) -> None:
        line = {"op": op, "ms": round((time.perf_counter() - started) * 1000, 3), "ok": ok, "code": code, **extra}
        self.file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.file.flush()


async def main(cfg: dict[str, Any]) -> None:
    rng = random.Random(f"{cfg['seed']}-{cfg['id']}-{cfg['incarnation']}")
    journal = Journal(cfg["out"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    name = f"{cfg['id']}.{cfg['incarnation']}"

    db = await keel.connect(cfg["url"], max_connections=4)
    db.install_log_sink()
    log = db.create_logger(f"soak-{name}")
    base = cfg["base_url"]
    paths = {"anthropic": "", "google": "", "openai": "/v1"}
    router = await db.model_router(cooldown=cfg["cooldown_ms"] / 1000, probe_timeout=cfg["probe_timeout_ms"] / 1000)
    llm = router.llm(providers={p: {"base_url": base + path} for p, path in paths.items()}, attempt_timeout=1.5, deadline=6.0)
    skills = await db.skill_registry(staleness=1.0)
    routes = skills.message_router()
    store = db.conversations()
    dedup = db.dedup()
    queue = db.queue(lease_ms=cfg["lease_ms"], retry_delay_ms=200)
    fleet = db.fleet(webhook_url=base + "/services/T0/B0/soak")
    runs = db.runs()
    letters = db.dead_letters()

    async def replay(letter: dict[str, Any]) -> Any:
        # Half the letters replay cleanly; the others fail until they are abandoned.
        if int(letter["id"][-1], 16) % 2:
            raise Unavailable("still down")
        return None

    async def op(kind: str, call: Any, **extra: Any) -> Any:
        started = time.perf_counter()
        try:
            value = await call
        except keel.KeelError as err:
            journal.write(kind, started, False, err.code, **extra)
            return None
        except Exception as err:  # an executor's own failure surfaces as itself
            journal.write(kind, started, False, type(err).__name__, **extra)
            return None
        journal.write(kind, started, True, **extra)
        return value

    limiter = db.shared_limiter()
    limits = [{"provider": "crm", "limit": cfg["rate_limit"], "period_ms": 1000, "burst": cfg["rate_burst"]}]

    async def handle_queue() -> None:
        claimed = await op("claim", queue.claim(name, n=4))
        for item in claimed or []:
            # The CRM's quota is shared by every worker: over it, the item waits its turn.
            org = item["org_id"]
            decision = await op("acquire", limiter.acquire(org_id=org, providers=["crm"], limits=limits))
            if decision is None:
                continue  # the lease runs out and a sweep puts the item back
            if not decision["allowed"]:
                await op("defer", queue.defer(item["id"], item["lease_token"], decision["retry_after_ms"]))
                continue
            journal.write("allowed", time.perf_counter(), True, org=org, at=time.time() * 1000)
            await asyncio.sleep(rng.uniform(0, 0.02))  # the enrichment itself
            acked = await op("complete", queue.complete(item["id"], item["lease_token"]), item=item["id"])
            if acked is not None:
                journal.write("ack", time.perf_counter(), bool(acked), item=item["id"], token=item["lease_token"])

    n = 0
    last_health = 0.0
    while not stop.is_set():
        n += 1
        org = rng.choice(cfg["orgs"])
        conv = rng.choice(cfg["conversations"][org])
        channel = rng.choice(["web", "slack"])
        message = rng.choice(cfg["messages"])
        decided = await op("route", routes.route(message, channel, org, "rep-1"))
        key = f"{name}-{n}"
        done = await op(
            "llm",
            llm.complete(
                feature="copilot", org_id=org, idempotency_key=key, messages=[{"role": "user", "content": message}]
            ),
            key=key,
            org=org,
        )
        reply = done["text"] if done else "(no answer)"
        appended = await op(
            "append",
            store.append(org, conv, [{"role": "user", "content": message}, {"role": "assistant", "content": reply}]),
        )
        if appended and appended["total_tokens"] > cfg["compact_above"] and rng.random() < 0.1:
            await op("compact", store.compact(org, conv, llm=llm, threshold=cfg["compact_above"]))
        if n % 3 == 0:
            fate = rng.random()

            async def agent(ctx: keel.AgentContext, fate: float = fate) -> Any:
                if fate < 0.3 and ctx.attempt == 1:
                    raise Unavailable("CRM unavailable")
                if fate > 0.93:
                    raise Unavailable("CRM down for good")
                return {"scored": 1}

            config = {
                "agent_name": cfg["agent"],
                "org_id": org,
                "max_retries": 1,
                "policy": {"kinds": {"transient": {"max_attempts": 2, "backoff": {"base_ms": 10, "cap_ms": 20}}}},
                "idempotency_key": key,
            }
            await op("agent", db.run_agent(config, agent))
        title = " ".join(rng.choice(cfg["words"]) for _ in range(5))
        deal = org[:24] + f"{rng.randrange(5000):012x}"  # one of the org's 5,000 deals: a dedup key each
        item = {"org_id": org, "source_agent": cfg["agent"], "item_type": "deal_risk", "title": title, "deal_id": deal}
        checked = await op("enqueue", dedup.enqueue([item]))
        if checked:
            journal.write("enqueued", time.perf_counter(), True, item=checked[0]["id"], verdict=checked[0]["verdict"])
        await handle_queue()
        log.info("soak.iteration", {"n": n, "route": decided["route"] if decided else None})
        if time.monotonic() - last_health > cfg["health_every"]:
            last_health = time.monotonic()
            await op("sweep", queue.sweep())
            await op("health", fleet.check_fleet_health())
            await op("letters", letters.work_once(replay, backoff={"base_ms": 200, "cap_ms": 1000}))

    # A clean stop: what this incarnation emitted, wrote and dropped.
    await log.flush()
    await runs.flush()
    await routes.flush()
    accepted, written, dropped = log.stats()
    journal.write("stopped", time.perf_counter(), True, emitted=n, accepted=accepted, written=written, dropped=dropped)
    await db.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
