"""Model calls: one `complete` that resolves, reserves credits, calls, falls back, reports and
charges; a streamed reply; a summary and embeddings; bad input refused before any request.

The same scenario runs in examples/rust/llm.rs and examples/node/llm.mjs.

    KEEL_LLM_BASE_URL=http://127.0.0.1:PORT python examples/python/llm.py   # `keel loopback`
    ANTHROPIC_API_KEY=… GEMINI_API_KEY=… python examples/python/llm.py      # the real APIs
"""

import asyncio
import os
import uuid

import keel


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    # A local server (`keel loopback`) when set; else each provider's public API and its key.
    base = os.environ.get("KEEL_LLM_BASE_URL")
    org = str(uuid.uuid4())
    # --8<-- [start:llm]
    db = await keel.connect(url)
    router = await db.model_router()
    paths = {"anthropic": "", "google": "", "openai": "/v1"}
    providers = {p: {"base_url": base + path} for p, path in paths.items()} if base else {}
    llm = router.llm(providers=providers)
    await router.grant_credits(org, 10)

    done = await llm.complete(
        feature="copilot",
        tier="low",
        org_id=org,
        system="Answer in one line.",
        messages=[{"role": "user", "content": "How do I prep for my Acme meeting?"}],
    )
    print(f"{done['provider']}/{done['model']}: {done['text']}")
    usage = done["usage"]
    print(
        f"{len(done['attempts'])} attempt(s), {usage['input_tokens']} in / {usage['output_tokens']} out tokens,"
        f" {done['credits_charged']:.6f} credits"
    )

    stream = await llm.stream(feature="copilot", messages=[{"role": "user", "content": "Summarise the deal."}])
    text = "".join([e["text"] async for e in stream if e["event"] == "delta" and e["type"] == "text"])
    print(f"streamed: {text}")

    thread = "Acme asked for five more seats; legal wants the DPA before Friday."
    summary = await llm.summarize(feature="copilot", text=thread)
    print(f"summary: {summary['text']}")
    embedded = await llm.embed(provider="google", texts=["Acme renewal", "DPA review"], dimensions=4)
    print(f"embedded {len(embedded['vectors'])} texts into {embedded['dimensions']} dimensions with {embedded['model']}")

    try:
        await llm.complete(feature="copilot", max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    except keel.InvalidInputError as err:
        print(f"refused before any request: {err.code}")  # err.field: max_tokens
    await db.close()
    # --8<-- [end:llm]


if __name__ == "__main__":
    asyncio.run(main())
