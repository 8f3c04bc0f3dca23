"""OTLP export from Python to Arize Phoenix, a real receiver on loopback: `connect(otlp=...)`
configures it, and one trace holds the host's web request, Keel's span, a host span inside
Keel's, and the LLM call with its provider attempt."""

from __future__ import annotations

import base64
import pathlib
import shutil
import subprocess
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import keel
from conftest import REPO, Loopback, Phoenix

HELLO = [{"role": "user", "content": "hello"}]
PRICES = {"credit_cost": 1.0, "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 1.0, "max_tokens": 100}


def by_name(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(s for s in spans if s["name"] == name)


def chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Debian's Chromium, headless, given time for Phoenix's UI to render."""
    binary = shutil.which("chromium")
    assert binary, "Debian's Chromium is needed: `apt-get install chromium` (make test does it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900"]
    return subprocess.run(
        [binary, *flags, "--virtual-time-budget=15000", *args], check=True, capture_output=True, timeout=180
    )


def screenshot(phoenix: Phoenix, trace_id: str, names: list[str]) -> pathlib.Path:
    """The trace in Phoenix's UI: its page shows every span named, and its picture is
    written to target/screenshots/ (the README's is a copy)."""
    project = base64.b64encode(b"Project:1").decode()
    url = f"{phoenix.url}/projects/{project}/traces/{trace_id}"
    dom = chromium("--dump-dom", url).stdout.decode()
    for name in names:
        assert name in dom, f"Phoenix's trace page does not show {name}"
    out = REPO / "target" / "screenshots" / "phoenix-trace.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    chromium(f"--screenshot={out}", url)
    picture = out.read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n") and len(picture) > 30_000, len(picture)
    return out


async def test_one_trace_holds_the_host_request_keel_and_the_provider_call(
    phoenix: Phoenix, loopback: Loopback, tmp_path: pathlib.Path
) -> None:
    host = TracerProvider(resource=Resource({"service.name": "py-host"}))
    host.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{phoenix.url}/v1/traces")))
    tracer = host.get_tracer("host")
    db = await keel.connect(f"sqlite://{tmp_path / 'k.db'}", otlp={"endpoint": phoenix.url, "timeout": 5})
    router = await db.model_router(seed_defaults=False)
    await router.set_model("copilot", "low", "anthropic", "claude-a", **PRICES)
    llm = router.llm(providers=loopback.providers())

    with tracer.start_as_current_span("web.request") as web:
        log = db.create_logger("py-svc")
        with log.create_span("keel.step") as step:
            with tracer.start_as_current_span("host.inside", context=keel.otel_context(step)):
                pass
        done = await llm.complete(feature="copilot", tier="low", messages=HELLO)
    await log.flush()
    host.force_flush()

    trace_id = format(web.get_span_context().trace_id, "032x")
    assert done["trace_id"].replace("-", "") == trace_id, "the call joined the host's trace"
    spans = phoenix.spans(trace_id, 5)
    web_id = format(web.get_span_context().span_id, "016x")
    keel_step = by_name(spans, "keel.step")
    assert keel_step["parent_id"] == web_id
    assert by_name(spans, "host.inside")["parent_id"] == keel_step["context"]["span_id"]
    call = next(s for s in spans if s["attributes"].get("keel.action") == "gen_ai.chat")
    attempt = next(s for s in spans if s["attributes"].get("keel.action") == "gen_ai.attempt")
    assert call["parent_id"] == web_id
    assert attempt["parent_id"] == call["context"]["span_id"]
    assert attempt["name"] == "chat claude-a"
    assert attempt["attributes"]["gen_ai.provider.name"] == "anthropic"
    stats = log.export_stats()
    assert stats is not None and stats["exported"] == 3 and stats["dropped"] == 0, stats
    await db.close()
    screenshot(phoenix, trace_id, ["web.request", "keel.step", "host.inside", "chat claude-a"])


async def test_bad_export_options_name_the_field(tmp_path: pathlib.Path) -> None:
    with pytest.raises(keel.InvalidInputError) as info:
        await keel.connect(f"sqlite://{tmp_path / 'k.db'}", otlp={"protocol": "http/json"})
    assert info.value.field == "otlp.protocol"
    db = await keel.connect("sqlite::memory:")
    assert db.create_logger("no-export").export_stats() is None
    await db.close()
    for value in (None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", object()):
        with pytest.raises(keel.InvalidInputError) as bad:
            keel.otel_context(value)  # type: ignore[arg-type]
        assert bad.value.field == "span"
