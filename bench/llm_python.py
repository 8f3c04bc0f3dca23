"""What a model call adds from Python over a raw HTTP round trip to the same provider on
loopback (`keel loopback`, a fixed reply), at p50 and p99: Keel's `llm.complete` (an explicit
model, and resolved through the router; credits off; and the same two with the caller's own
client as the provider's transport, the client the raw round trip uses, so the call is driven on
the event loop; and Keel's own work alone, through a transport that answers at once) against
TensorZero's embedded gateway
(observability off) and LiteLLM's `Router.acompletion`, both offline against the same
OpenAI-compatible endpoint. Calls run one at a time, each variant in a
block of its own; the driven calls run once more interleaved with the raw round trip. Prints
one JSON object of microseconds on stdout. Run by bench/run.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from litellm import Router  # noqa: E402
from tensorzero import AsyncTensorZeroGateway  # noqa: E402

import keel  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROUNDS, WARM_UP = 1_500, 100
MESSAGES = [{"role": "user", "content": "hello"}]


def start_loopback() -> tuple[subprocess.Popen[str], str]:
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "keel-cli"], cwd=ROOT, check=True)
    proc = subprocess.Popen([str(ROOT / "target/release/keel"), "loopback"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    match = re.search(r"http://\S+", proc.stdout.readline())
    assert match
    base = match.group(0)
    urllib.request.urlopen(urllib.request.Request(base + "/_loopback/quiet", data=b"{}"))
    return proc, base


def tensorzero_config(base: str) -> str:
    """A TensorZero config with one model on the loopback server and no observability store."""
    text = f"""
[gateway.observability]
enabled = false

[models.bench]
routing = ["loopback"]

[models.bench.providers.loopback]
type = "openai"
model_name = "gpt-bench"
api_base = "{base}/v1/"
api_key_location = "none"
"""
    path = pathlib.Path(tempfile.mkdtemp()) / "tensorzero.toml"
    path.write_text(text)
    return str(path)


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2], s[round((len(s) - 1) * 0.99)]


async def main() -> None:
    litellm.suppress_debug_info = True
    proc, base = start_loopback()
    host, port = base.removeprefix("http://").split(":")
    raw = http.client.HTTPConnection(host, int(port))
    # Encoded on every call, as any client does (and as a transport does with Keel's body).
    request_body = {"model": "gpt-bench", "max_tokens": 256, "messages": MESSAGES}

    def post(text: str) -> dict:
        raw.request("POST", "/v1/chat/completions", text, {"content-type": "application/json", "authorization": "Bearer x"})
        reply: dict = json.loads(raw.getresponse().read())
        return reply

    def raw_call() -> None:
        reply = post(json.dumps(request_body))
        assert reply["choices"][0]["message"]["content"]

    async def own_client(request: dict) -> dict:
        """The raw round trip's client as the provider's transport, sending Keel's body."""
        return post(json.dumps(request["body"]))

    canned = post(json.dumps(request_body))

    async def at_once(request: dict) -> dict:
        """Answers at once with the server's reply: Keel's own work per driven call, no I/O."""
        return canned

    db = await keel.connect("sqlite::memory:")
    router = await db.model_router(seed_defaults=False)
    await router.set_model("copilot", "low", "openai", "gpt-bench", max_tokens=256)
    llm = router.llm(providers={"openai": {"api_key": "x", "base_url": base + "/v1"}})
    own = router.llm(transports={"openai": own_client})
    work = router.llm(transports={"openai": at_once})
    peer = Router(
        model_list=[
            {"model_name": "gpt-bench", "litellm_params": {"model": "openai/gpt-bench", "api_base": base + "/v1", "api_key": "x"}}
        ],
        num_retries=0,
    )
    tensorzero = await AsyncTensorZeroGateway.build_embedded(config_file=tensorzero_config(base))

    async def keel_explicit() -> None:
        await llm.complete(provider="openai", model="gpt-bench", max_tokens=256, messages=MESSAGES)

    async def keel_routed() -> None:
        await llm.complete(feature="copilot", tier="low", messages=MESSAGES)

    async def keel_own_explicit() -> None:
        await own.complete(provider="openai", model="gpt-bench", max_tokens=256, messages=MESSAGES)

    async def keel_own_routed() -> None:
        await own.complete(feature="copilot", tier="low", messages=MESSAGES)

    async def keel_own_work() -> None:
        await work.complete(feature="copilot", tier="low", messages=MESSAGES)

    async def litellm_call() -> None:
        await peer.acompletion(model="gpt-bench", messages=MESSAGES, max_tokens=256)

    async def tensorzero_call() -> None:
        await tensorzero.inference(
            model_name="bench", input={"messages": MESSAGES}, params={"chat_completion": {"max_tokens": 256}}
        )

    async def raw_async() -> None:
        raw_call()

    variants = {
        "raw": raw_async,
        "keel_explicit": keel_explicit, "keel_routed": keel_routed,
        "keel_own_explicit": keel_own_explicit, "keel_own_routed": keel_own_routed,
        "keel_own_work": keel_own_work,
        "tensorzero": tensorzero_call,
        "litellm": litellm_call,
    }
    samples: dict[str, list[float]] = {}

    async def timed(name: str, call: Callable[[], Awaitable[None]], round_: int) -> None:
        start = time.perf_counter()
        await call()
        if round_ >= WARM_UP:
            samples.setdefault(name, []).append((time.perf_counter() - start) * 1e6)

    # Each variant in a block of its own: interleaved, the first awaited call after the raw
    # (blocking) one pays the runtime's wake-up (~1 ms here), whichever variant it is.
    for name, call in variants.items():
        for round_ in range(WARM_UP + ROUNDS):
            await timed(name, call, round_)
    # The driven calls again, interleaved with the raw round trip call by call, so both meet the
    # same moments of a noisy machine (a thread hop would pay a wake-up after each raw call, so
    # the variants through a runtime stay in blocks).
    paired = {"raw": raw_async, "keel_own_explicit": keel_own_explicit, "keel_own_routed": keel_own_routed}
    for round_ in range(WARM_UP + ROUNDS):
        for name, call in paired.items():
            await timed(f"paired_{name}", call, round_)
    await db.close()
    proc.terminate()
    results: dict[str, float] = {}
    for name, values in samples.items():
        p50, p99 = percentiles(values)
        results[f"{name}_p50_us"], results[f"{name}_p99_us"] = p50, p99
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
