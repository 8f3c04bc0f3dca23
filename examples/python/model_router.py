"""Model router: resolve a model for a feature, report the call, charge its credits.

The same scenario runs in examples/rust/model_router.rs and examples/node/model_router.mjs.

    python examples/python/model_router.py
    KEEL_DATABASE_URL=postgres://… python examples/python/model_router.py
"""

import asyncio
import os
import uuid

import keel


async def main() -> None:
    url = os.environ.get("KEEL_DATABASE_URL", "sqlite::memory:")
    org = str(uuid.uuid4())
    # --8<-- [start:model_router]
    db = await keel.connect(url)
    router = await db.model_router()  # seeds the default matrix
    await router.set_org_tier(org, "copilot", "low")
    pick = router.resolve_model("copilot", org_id=org)  # no I/O while circuits are closed
    print(f"copilot for this org: {pick.provider}/{pick.model_id} ({pick.tier} tier)")
    # When its conversations must be compacted: the window from the matrix, the dated id matched.
    limit = router.compaction_threshold(pick.model_id)
    print(f"compact {limit['canonical_id']} conversations above {limit['threshold']} tokens")

    # A 400 is the caller's fault: the breaker does not count it.
    print("a 400 changes the breaker:", await router.record_failure(pick.model_id, status=400))

    await router.grant_credits(org, 10)
    charged = await router.deduct_credits(
        org, resolution=pick, input_tokens=2000, output_tokens=500, idempotency_key="call-1"
    )
    print(f"balance after the call: {charged.balance_after:.4f}")
    await db.close()
    # --8<-- [end:model_router]


if __name__ == "__main__":
    asyncio.run(main())
