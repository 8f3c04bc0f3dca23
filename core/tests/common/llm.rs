//! Model-call tests' setup: a router whose copilot/low slot is anthropic → google → openai,
//! every provider on the loopback provider, and a request for that slot.

use keel::Keel;
use keel::llm::{CallRequest, Llm, LlmOptions, ProviderConfig};
use keel::models::{Feature, ModelEntry, ModelRouter, Pricing, Role, RouterOptions, Scope, Tier};
use uuid::Uuid;

use super::loopback::Loopback;

/// The slot's primary (Anthropic wire).
pub const PRIMARY: &str = "claude-a";
/// Its first fallback (Gemini wire).
pub const SECOND: &str = "gemini-b";
/// Its second fallback (OpenAI wire).
pub const THIRD: &str = "gpt-c";

/// 10 input tokens cost 1 credit and 5 output tokens 1 credit: the loopback's usage costs 2.
fn row(provider: &str, model: &str, role: Role) -> ModelEntry {
    ModelEntry {
        scope: Scope::Platform,
        feature: Feature::Copilot,
        tier: Tier::Low,
        provider: provider.into(),
        model_id: model.into(),
        role,
        context_window: 100_000,
        max_tokens: 100,
        pricing: Pricing {
            per_request: 1.0,
            input_per_mtok: Some(100_000.0),
            output_per_mtok: Some(200_000.0),
        },
    }
}

/// A client on `keel` whose providers all point at `provider`; `tune` changes its options.
pub async fn setup(keel: &Keel, provider: &Loopback, tune: impl FnOnce(&mut LlmOptions)) -> Llm {
    setup_with(keel, provider, RouterOptions::default(), tune).await
}

/// As [`setup`], on a router with `options` (its defaults never seeded).
pub async fn setup_with(
    keel: &Keel,
    provider: &Loopback,
    options: RouterOptions,
    tune: impl FnOnce(&mut LlmOptions),
) -> Llm {
    let router = ModelRouter::open(
        keel,
        RouterOptions {
            seed_defaults: false,
            ..options
        },
    )
    .await
    .unwrap();
    for entry in [
        row("anthropic", PRIMARY, Role::Primary),
        row("google", SECOND, Role::Fallback(1)),
        row("openai", THIRD, Role::Fallback(2)),
    ] {
        router.set_model(entry).await.unwrap();
    }
    let mut options = LlmOptions::default();
    for (name, base) in [
        ("anthropic", provider.base_url.clone()),
        ("google", provider.base_url.clone()),
        ("openai", format!("{}/v1", provider.base_url)),
    ] {
        options.providers.insert(
            name.into(),
            ProviderConfig {
                api_key: Some(format!("key-{name}")),
                base_url: Some(base),
                ..ProviderConfig::default()
            },
        );
    }
    tune(&mut options);
    Llm::new(&router, options).unwrap()
}

/// "hello" for copilot/low, charged to `org` when given.
pub fn ask(org: Option<Uuid>) -> CallRequest {
    CallRequest {
        tier: Some(Tier::Low),
        org_id: org,
        ..CallRequest::new(Feature::Copilot, "hello")
    }
}

/// An org with 100 credits.
pub async fn funded(llm: &Llm) -> Uuid {
    let org = Uuid::new_v4();
    llm.router()
        .grant_credits(org, 100.0, "purchase", Some("seed"))
        .await
        .unwrap();
    org
}

/// The org's balance.
pub async fn balance(llm: &Llm, org: Uuid) -> f64 {
    llm.router().check_budget(org).await.unwrap().remaining
}

/// Waits (10 s at most) until the org's balance is back to `credits`: a cancelled call's
/// reservation is released in the background.
pub async fn until_released(llm: &Llm, org: Uuid, credits: f64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while balance(llm, org).await != credits {
        assert!(
            std::time::Instant::now() < deadline,
            "the reservation was never released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
