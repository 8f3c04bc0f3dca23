"""The soak's invariants, checked once every worker has stopped: from the database (through
psql, as the superuser and as an org's `authenticated` caller) and from the workers' journals.

Each check returns `{"name", "ok", "detail"}`; a failure's detail names the rows that broke it.
"""

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import keel
from faults import psql


def journal(path: Path) -> Iterator[dict[str, Any]]:
    """A journal's lines; a killed worker's last line may be cut short."""
    if not path.exists():
        return
    for raw in path.read_text().splitlines():
        try:
            yield json.loads(raw)
        except json.JSONDecodeError:
            continue


def result(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def run(
    url: str, orgs: list[str], workers: list[Any], lease_ms: int, cooldown_ms: int, rate: tuple[int, int], stopped_at: float
) -> list[dict[str, Any]]:
    # Leases of the killed workers' items expire; the sweep puts them back or fails them.
    time.sleep(max(0.0, stopped_at + lease_ms / 1000 + 0.5 - time.monotonic()))
    swept = asyncio.run(sweep(url))
    lines = {path: list(journal(path)) for w in workers for path in w.journals}
    clean = {path for w in workers for i, path in enumerate(w.journals) if i not in w.killed}
    kills = sum(len(w.killed) for w in workers)
    return [
        *credits(url, kills),
        *queue(url, lines, kills, swept),
        rate_limited(lines, rate),
        dead_letters(url, kills, time.time() - (time.monotonic() - stopped_at)),
        executions(url, lines, clean),
        logs(url, lines, clean),
        routing_logged(url, lines, clean),
        routes_consistent(url),
        breakers(url, cooldown_ms),
        isolation(url, orgs),
        compactions(url),
        alerts(url),
        exits(workers),
    ]


async def sweep(url: str) -> dict[str, int]:
    db = await keel.connect(url)
    try:
        return await db.queue().sweep()
    finally:
        await db.close()


def credits(url: str, kills: int) -> list[dict[str, Any]]:
    rows = psql(url, """
        SELECT b.org_id, b.balance_credits, coalesce(sum(l.amount), 0), b.grace_threshold_credits,
               coalesce(min(l.balance_after), 0), count(l.*)
        FROM keel.org_credit_balance b LEFT JOIN keel.credit_ledger l USING (org_id)
        GROUP BY b.org_id, b.balance_credits, b.grace_threshold_credits""")
    unequal = [r[0] for r in rows if float(r[1]) != float(r[2])]
    below = [r[0] for r in rows if float(r[4]) < -float(r[3])]
    twice = psql(url, """
        SELECT org_id, idempotency_key, count(*) FROM keel.credit_ledger
        WHERE kind = 'deduction' AND idempotency_key IS NOT NULL
        GROUP BY 1, 2 HAVING count(*) > 1""")
    open_reservations = psql(url, "SELECT count(*) FROM keel.credit_reservations WHERE status = 'reserved'")[0][0]
    entries = sum(int(r[5]) for r in rows)
    lowest = min((float(r[1]) for r in rows), default=0.0)
    return [
        result("credits: balance = ledger sum, per org", not unequal and bool(rows),
               f"{len(rows)} orgs, {entries} ledger rows" + (f"; unequal: {unequal}" if unequal else "")),
        result("credits: never below the grace", not below,
               f"lowest balance {lowest:.4f}" + (f"; below: {below}" if below else "")),
        # A reservation outlives its call only when the process died holding it.
        result("credits: no key charged twice, no reservation leaked", not twice and int(open_reservations) <= kills,
               f"{len(twice)} keys charged twice; {open_reservations} reservations held by killed workers (<= {kills} kills)"),
    ]


def queue(url: str, lines: dict[Path, list[dict[str, Any]]], kills: int, swept: dict[str, int]) -> list[dict[str, Any]]:
    states = dict((r[0], int(r[1])) for r in psql(url, """
        SELECT enrichment_status, count(*) FROM keel.command_centre_items GROUP BY 1"""))
    enqueued = {line["item"] for ls in lines.values() for line in ls if line["op"] == "enqueued"}
    acks = Counter(line["item"] for ls in lines.values() for line in ls if line["op"] == "ack" and line["ok"])
    fenced = sum(1 for ls in lines.values() for line in ls if line["op"] == "ack" and not line["ok"])
    rows = {r[0]: (r[1], r[2]) for r in psql(url, """
        SELECT id, enrichment_status, coalesce(failure_reason, '') FROM keel.command_centre_items""")}
    missing = [i for i in enqueued if i not in rows]
    twice = [i for i, n in acks.items() if n > 1]
    acked_not_done = [i for i in acks if rows.get(i, ("", ""))[0] != "enriched"]
    done_unacked = [i for i, (s, _) in rows.items() if s == "enriched" and i not in acks]
    failed_silent = [i for i, (s, why) in rows.items() if s == "failed" and not why]
    in_flight = states.get("processing", 0)
    detail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    return [
        result("queue: no item lost", not missing and not failed_silent and in_flight == 0,
               f"{len(enqueued)} enqueued by the journals, all stored; {detail}; final sweep requeued "
               f"{swept['requeued']}" + (f"; missing {missing[:3]}" if missing else "")
               + (f"; failed without a reason {failed_silent[:3]}" if failed_silent else "")),
        # A worker killed between its completion and its journal line leaves an item done but
        # unacknowledged: at most one per kill. Two acknowledgements of one item never happen.
        result("queue: no item done twice", not twice and not acked_not_done and len(done_unacked) <= kills,
               f"{sum(acks.values())} acknowledged completions, 0 twice; {fenced} refused to a lapsed lease; "
               f"{len(done_unacked)} done by a killed worker before its journal line (<= {kills} kills)"
               + (f"; acknowledged but {[rows.get(i) for i in acked_not_done[:3]]}: {acked_not_done[:3]}" if acked_not_done else "")
               if not twice else f"done twice: {twice[:3]}"),
    ]


def rate_limited(lines: dict[Path, list[dict[str, Any]]], rate: tuple[int, int]) -> dict[str, Any]:
    """The shared quota held across processes. GCRA admits `limit` per period, `burst` of them
    at once: one every period / (limit - burst + 1) after the burst, so any window of T ms
    holds at most burst + T / emission admissions of an org (plus 2 for the journal's
    timestamps, taken when each call returned). Checked over every 5-second window; the
    workers' demand is above the quota, so a limiter that let two processes admit at once
    would show."""
    limit, burst = rate
    emission = 1000 / (limit - burst + 1)
    window = 5000
    times: dict[str, list[float]] = {}
    for ls in lines.values():
        for line in ls:
            if line["op"] == "allowed":
                times.setdefault(line["org"], []).append(line["at"])
    over, most = [], 0.0
    ceiling = burst + window / emission
    for org, at in times.items():
        at.sort()
        first, peak = 0, 0
        for last in range(len(at)):
            while at[last] - at[first] > window:
                first += 1
            peak = max(peak, last - first + 1)
        most = max(most, peak / ceiling)
        if peak > ceiling + 2:
            over.append(f"{org}: {peak} in 5 s > {ceiling:.0f}")
    deferred = sum(1 for ls in lines.values() for line in ls if line["op"] == "defer" and line["ok"])
    return result("rate limits: no org over its shared quota", not over and bool(times),
                  f"{sum(len(a) for a in times.values())} allowed, {deferred} deferred; the busiest 5 s of an org "
                  f"used {most:.0%} of its quota" + (f"; over: {over[:2]}" if over else ""))


def dead_letters(url: str, kills: int, stopped_wall: float) -> dict[str, Any]:
    """Every letter resolved, abandoned with a reason, or waiting for a retry that is not yet
    due; none overdue by more than 15 s when the workers stopped (they replay every 3 s), and
    none held except by a killed worker's lease."""
    rows = psql(url, f"""
        SELECT status, count(*), count(*) FILTER (WHERE failure_reason = ''),
               count(*) FILTER (WHERE status = 'pending' AND next_retry_at < to_timestamp({stopped_wall} - 15)),
               count(*) FILTER (WHERE status = 'retrying')
        FROM keel.agent_dead_letters GROUP BY 1""")
    silent = sum(int(r[2]) for r in rows)
    overdue = sum(int(r[3]) for r in rows)
    held = sum(int(r[4]) for r in rows)
    detail = ", ".join(f"{r[1]} {r[0]}" for r in rows) or "none"
    return result("dead letters: each settled, or waiting its turn", not silent and not overdue and held <= kills,
                  f"{detail}; {overdue} overdue, {held} held by killed workers (<= {kills})")


def executions(url: str, lines: dict[Path, list[dict[str, Any]]], clean: set[Path]) -> dict[str, Any]:
    """One agent_executions row per run, each idempotency key run once, none left running but
    a killed worker's."""
    rows = psql(url, """
        SELECT count(*), count(*) FILTER (WHERE status = 'running'),
               count(*) - count(DISTINCT (agent_name, idempotency_key))
        FROM keel.agent_executions WHERE agent_name LIKE 'soak-%'""")[0]
    total, running, repeated = (int(x) for x in rows)
    runs = {p: sum(1 for line in ls if line["op"] == "agent") for p, ls in lines.items()}
    floor = sum(n for p, n in runs.items() if p in clean)
    ceiling = sum(runs.values()) + len(lines) - len(clean)
    ok = floor <= total <= ceiling and repeated == 0 and running <= len(lines) - len(clean)
    return result("executions: one row per run, each key once", ok,
                  f"{total} rows for {sum(runs.values())} runs ({floor} by survivors); {repeated} keys run twice; "
                  f"{running} left running by killed workers")


def logs(url: str, lines: dict[Path, list[dict[str, Any]]], clean: set[Path]) -> dict[str, Any]:
    counts = {r[0]: int(r[1]) for r in psql(url, """
        SELECT service, count(*) FROM keel.system_logs WHERE service LIKE 'soak-%' GROUP BY 1""")}
    broken, lost = [], 0
    for path, ls in lines.items():
        service = "soak-" + path.name.removesuffix(".jsonl")
        rows = counts.get(service, 0)
        stopped = next((line for line in ls if line["op"] == "stopped"), None)
        if path in clean and stopped is not None:
            s = stopped
            if s["accepted"] != s["written"] + s["dropped"] or not (0 <= s["emitted"] - rows <= s["dropped"]):
                broken.append(f"{service}: {rows} rows, {s}")
        elif path in clean:
            broken.append(f"{service}: no clean stop")
        else:
            emitted = sum(1 for line in ls if line["op"] == "route")
            if rows > emitted + 1:
                broken.append(f"{service}: {rows} rows for {emitted} events")
            lost = max(lost, emitted - rows)
    return result("logs: rows + drops = events of the survivors", not broken,
                  f"{sum(counts.values())} rows; a killed worker lost at most {lost} events"
                  + (f"; {broken[:2]}" if broken else ""))


def routing_logged(url: str, lines: dict[Path, list[dict[str, Any]]], clean: set[Path]) -> dict[str, Any]:
    rows = int(psql(url, "SELECT count(*) FROM keel.routing_logs")[0][0])
    routed = {p: sum(1 for line in ls if line["op"] == "route" and line["ok"]) for p, ls in lines.items()}
    floor = sum(n for p, n in routed.items() if p in clean)
    ceiling = sum(routed.values())
    return result("routing: every decision of a survivor logged", floor <= rows <= ceiling,
                  f"{rows} rows for {ceiling} decisions ({floor} by survivors)")


def routes_consistent(url: str) -> dict[str, Any]:
    """A decision is a function of the message and one version of the org's skills (no LLM
    stage here): one (org, channel, skills version, message) never routed two ways, which a
    decision mixing two versions, or a cache entry outliving its version, would do."""
    mixed = psql(url, """
        SELECT org_id, channel, skills_version, message_hash FROM keel.routing_logs
        GROUP BY 1, 2, 3, 4 HAVING count(DISTINCT route || '|' || coalesce(skill_key, '')) > 1""")
    versions = psql(url, "SELECT count(DISTINCT skills_version), count(DISTINCT (org_id, skills_version)) FROM keel.routing_logs")[0]
    return result("routing: no decision mixed two skills versions", not mixed,
                  f"{versions[0]} skills versions, {versions[1]} (org, version) views" + (f"; mixed {mixed[:2]}" if mixed else ""))


def breakers(url: str, cooldown_ms: int) -> dict[str, Any]:
    """Stored states agree with their flags, and no circuit served two probes at once: a probe's
    failure re-opens for at least the cooldown, so two claims of one circuit closer than that
    overlapped (robust to lost log lines: a missing report can only widen the gap)."""
    rows = psql(url, """
        SELECT provider, model_id, state, is_circuit_open, opened_at IS NOT NULL FROM keel.model_health""")
    bad = [r for r in rows if (r[2] != "closed") != (r[3] == "t") or (r[2] == "open" and r[4] != "t")]
    claims = psql(url, """
        SELECT metadata ->> 'gen_ai.provider.name', metadata ->> 'gen_ai.request.model',
               (extract(epoch FROM "timestamp") * 1000)::int8 AS at,
               lag((extract(epoch FROM "timestamp") * 1000)::int8) OVER (
                   PARTITION BY metadata ->> 'gen_ai.provider.name', metadata ->> 'gen_ai.request.model'
                   ORDER BY "timestamp")
        FROM keel.system_logs WHERE action = 'model_router.probe_claimed'""")
    overlapping = [c for c in claims if c[3] and int(c[2]) - int(c[3]) < cooldown_ms]
    changes = Counter(r[0] for r in psql(url, """
        SELECT metadata ->> 'transition' FROM keel.system_logs WHERE action = 'model_router.circuit_changed'"""))
    states = Counter(r[2] for r in rows)
    detail = (", ".join(f"{n} {t.lower()}" for t, n in sorted(changes.items())) + f", {len(claims)} probes; now "
              + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    return result("breakers: legal states, one probe at a time", not bad and not overlapping,
                  detail + (f"; inconsistent {bad[:2]}" if bad else "")
                  + (f"; overlapping probes {overlapping[:2]}" if overlapping else ""))


def isolation(url: str, orgs: list[str]) -> dict[str, Any]:
    """Each org's caller, under row-level security, sees its own rows and no other org's."""
    leaks, seen = [], 0
    for org in orgs:
        claims = json.dumps({"org_id": org})
        sql = f"""
            BEGIN; SET LOCAL ROLE authenticated; SET LOCAL request.jwt.claims = '{claims}';
            SELECT (SELECT count(*) FROM keel.routing_logs WHERE org_id <> '{org}')
                 + (SELECT count(*) FROM keel.conversations WHERE org_id <> '{org}')
                 + (SELECT count(*) FROM keel.credit_ledger WHERE org_id <> '{org}')
                 + (SELECT count(*) FROM keel.command_centre_items WHERE org_id <> '{org}'),
                   (SELECT count(*) FROM keel.routing_logs) + (SELECT count(*) FROM keel.conversations);
            COMMIT;"""
        other, own = (int(x) for x in psql(url, sql)[0])
        seen += own
        if other:
            leaks.append(org)
    return result("isolation: no org reads another's rows", not leaks and seen > 0,
                  f"{len(orgs)} orgs under RLS, {seen} own rows read, 0 of another org's" if not leaks
                  else f"leaks for {leaks}")


def compactions(url: str) -> dict[str, Any]:
    rows = psql(url, """
        SELECT conversation_id, number, covered_through,
               lag(covered_through) OVER (PARTITION BY conversation_id ORDER BY number),
               lag(number) OVER (PARTITION BY conversation_id ORDER BY number)
        FROM keel.conversation_compactions""")
    bad = [r for r in rows if (r[3] and int(r[2]) <= int(r[3])) or (r[4] and int(r[1]) != int(r[4]) + 1)]
    conversations = len({r[0] for r in rows})
    return result("compactions: once per conversation watermark", not bad,
                  f"{len(rows)} compactions over {conversations} conversations" + (f"; {bad[:2]}" if bad else ""))


def alerts(url: str) -> dict[str, Any]:
    rows = psql(url, """
        SELECT agent_name, kind, status,
               lag(kind) OVER w, lag(status) OVER w
        FROM keel.fleet_alerts WHERE kind <> 'reminder'
        WINDOW w AS (PARTITION BY agent_name ORDER BY created_at, id)""")
    repeated = [r for r in rows if r[3] and (r[1], r[2]) == (r[3], r[4])]
    delivered = psql(url, "SELECT delivery, count(*) FROM keel.fleet_alerts GROUP BY 1")
    return result("alerts: once per transition", not repeated and bool(rows),
                  f"{len(rows)} alerts; " + ", ".join(f"{r[1]} {r[0]}" for r in delivered)
                  + (f"; repeated {repeated[:2]}" if repeated else ""))


def exits(workers: list[Any]) -> dict[str, Any]:
    bad = {w.id: w.proc.returncode for w in workers if w.proc and w.proc.returncode != 0}
    return result("workers: each survivor stopped cleanly on SIGTERM", not bad,
                  f"{len(workers)} survivors exited 0" if not bad else f"exit codes {bad}")
