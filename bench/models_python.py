"""Per-decision cost of choosing a model from Python: Keel's cached resolution against LiteLLM's
Router choosing a deployment, for an equivalent configuration (3 model groups, each a primary
plus fallbacks). LiteLLM runs offline (LITELLM_LOCAL_MODEL_COST_MAP=True). Prints one JSON
object of ns per decision (best of rounds) on stdout. Run by bench/run.py (`make bench`).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from litellm import Router  # noqa: E402

import keel  # noqa: E402
from timing import per_call_ns  # noqa: E402



def litellm_router() -> Router:
    """The same three groups as Keel's copilot/fleet_agent/recording medium slots."""
    deployment = lambda group, model: {"model_name": group, "litellm_params": {"model": model, "api_key": "sk-x"}}  # noqa: E731
    model_list = [
        deployment("copilot-medium", "anthropic/claude-sonnet-4-6"),
        deployment("copilot-medium-fallback", "gemini/gemini-2.5-flash"),
        deployment("fleet-medium", "anthropic/claude-sonnet-4-6"),
        deployment("fleet-medium-fallback", "gemini/gemini-2.5-flash"),
        deployment("recording-medium", "gemini/gemini-2.5-flash"),
        deployment("recording-medium-fallback", "anthropic/claude-sonnet-4-6"),
    ]
    fallbacks = [
        {"copilot-medium": ["copilot-medium-fallback"]},
        {"fleet-medium": ["fleet-medium-fallback"]},
        {"recording-medium": ["recording-medium-fallback"]},
    ]
    return Router(model_list=model_list, fallbacks=fallbacks, num_retries=0)


async def main() -> None:
    litellm.suppress_debug_info = True
    db = await keel.connect("sqlite::memory:")
    router = await db.model_router()
    org = str(uuid.uuid4())
    trace = str(uuid.uuid4())
    peer = litellm_router()
    results = {
        # The same decision LiteLLM makes: a model group (feature and tier), primary or fallback.
        "keel_resolve": per_call_ns(lambda: router.resolve_model("copilot", "medium")),
        # With an org (its overrides and tier) and a caller's trace id, as services call it.
        "keel_resolve_org_trace": per_call_ns(lambda: router.resolve_model("copilot", "medium", org, trace)),
        "litellm_get_available_deployment": per_call_ns(
            lambda: peer.get_available_deployment(model="copilot-medium"), calls=2_000
        ),
    }
    await db.close()
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
