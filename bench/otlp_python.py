"""Per-span cost from Python with OTLP export on: Keel's `create_span` + `stop` (exported by
core's exporter, no system_logs) against the OpenTelemetry SDK's `start_span` + `end` with its
BatchSpanProcessor and OTLP/HTTP exporter, both sending to the same discarding receiver
(bench/otlp_sink.mjs). Also Keel's `info` with export on. Prints one JSON object of ns per call
(best of rounds): on the caller's path, and until the receiver has every span.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import keel

CALLS = 10_000
ROUNDS = 7
META = {"gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.usage.input_tokens": 1240}


async def best(fn: Callable[[], object], settle: Callable[[], Any]) -> tuple[float, float]:
    """Best of rounds, per call: on the caller's path (the loop), and until exported (the loop
    and the flush that waits for the receiver to accept every span of the round)."""
    caller = exported = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            fn()
        looped = time.perf_counter_ns()
        await settle()
        caller = min(caller, (looped - start) / CALLS)
        exported = min(exported, (time.perf_counter_ns() - start) / CALLS)
    return caller, exported


async def main() -> None:
    sink = subprocess.Popen(["node", str(Path(__file__).with_name("otlp_sink.mjs"))], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    url = sink.stdout.readline().strip()
    try:
        db = await keel.connect("sqlite::memory:", otlp={"endpoint": url, "system_logs": False})
        log = db.create_logger("bench")

        def keel_span() -> None:
            log.create_span("model_router.resolve", META).stop()

        async def keel_settle() -> None:
            await log.flush()

        provider = TracerProvider()
        # A queue that holds a whole round, as Keel's does: neither side drops.
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"), max_queue_size=2 * CALLS)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")

        def otel_span() -> None:
            tracer.start_span("model_router.resolve", attributes=META).end()

        async def otel_settle() -> None:
            provider.force_flush()

        keel_caller, keel_exported = await best(keel_span, keel_settle)
        otel_caller, otel_exported = await best(otel_span, otel_settle)
        info, _ = await best(lambda: log.info("model_router.tier_resolved", META), keel_settle)
        results: dict[str, float] = {
            "keel_span": keel_caller,
            "otel_span": otel_caller,
            "keel_span_exported": keel_exported,
            "otel_span_exported": otel_exported,
            "keel_info_exporting": info,
        }
        stats = log.export_stats()
        assert stats is not None
        results["keel_exported"] = stats["exported"]
        results["keel_dropped"] = stats["dropped"]
        provider.shutdown()
        await db.close()
    finally:
        sink.kill()
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
