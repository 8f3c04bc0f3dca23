"""OpenTelemetry export: Keel's spans over OTLP to the receiver the platform runs, the log
events inside a span as its events, and a model call's spans (GenAI conventions) under the
caller's span.

The same scenario runs in examples/rust/otlp.rs and examples/node/otlp.mjs.

    KEEL_LLM_BASE_URL=http://127.0.0.1:PORT python examples/python/otlp.py  # `keel loopback` takes both
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 python examples/python/otlp.py  # Phoenix, real APIs
"""

import asyncio
import os

import keel


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # `keel loopback` answers the model calls and takes the spans; else OTEL_* say where to.
    base = os.environ.get("KEEL_LLM_BASE_URL")
    # --8<-- [start:otlp]
    otlp = {"endpoint": base} if base else {}
    config = keel.otlp_config(otlp)
    print(f"exporting spans over {config['protocol']}" if config else "export is off (set OTEL_EXPORTER_OTLP_ENDPOINT)")
    db = await keel.connect(url, otlp=otlp)
    router = await db.model_router()
    paths = {"anthropic": "", "google": "", "openai": "/v1"}
    llm = router.llm(providers={p: {"base_url": base + path} for p, path in paths.items()} if base else {})

    log = db.create_logger("copilot-autonomous")
    with log.create_span("handle_message", {"channel": "slack"}) as span:
        log.info("skills.cache_hit", {"entries": 12})  # travels as an event of handle_message
        done = await llm.complete(
            feature="copilot",
            tier="low",
            traceparent=span.traceparent(),  # the call's spans nest under handle_message
            messages=[{"role": "user", "content": "How do I prep for my Acme meeting?"}],
        )
    print(f"the call joined the trace: {str(done['trace_id'] == log.trace_id).lower()}")
    await log.flush()  # written, and exported or counted as dropped
    stats = log.export_stats()
    if stats is not None:
        print(f"{stats['exported']} spans exported (handle_message, the call, its attempt), {stats['dropped']} dropped")
    await db.close()
    # --8<-- [end:otlp]


if __name__ == "__main__":
    asyncio.run(main())
