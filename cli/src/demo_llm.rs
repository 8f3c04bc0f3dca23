//! The demo's model calls: a provider on loopback, the tier's primary overloaded until its
//! circuit opens, the fallback answering and charged by its usage, then a streamed reply.

use keel::llm::{CallRequest, Llm, LlmOptions, Piece, ProviderConfig, StreamEvent};
use keel::models::{Feature, ModelRouter, RouterOptions, Tier};
use keel::telemetry::Span;

use crate::loopback::{Loopback, Scripted, StreamEnd, WireKind, error, success_with_usage};
use crate::output::say;

const PRIMARY: &str = "claude-haiku-4-5-20251001";
const FALLBACK: &str = "gemini-2.5-flash";

/// A provider on loopback, a router on `keel`, and model calls sending `providers` to it.
pub async fn loopback_llm(
    keel: &keel::Keel,
    providers: &[&str],
) -> keel::Result<(Loopback, ModelRouter, Llm)> {
    let provider = Loopback::start()
        .await
        .map_err(|e| keel::Error::Internal(format!("cannot start the loopback provider: {e}")))?;
    let router = ModelRouter::open(keel, RouterOptions::default()).await?;
    let mut options = LlmOptions::default();
    for name in providers {
        options.providers.insert(
            (*name).into(),
            ProviderConfig {
                api_key: Some("demo-key".into()),
                base_url: Some(provider.base_url.clone()),
                ..ProviderConfig::default()
            },
        );
    }
    let llm = Llm::new(&router, options)?;
    Ok((provider, router, llm))
}

/// Runs the step inside `step` (the calls' spans nest under it).
pub async fn run(keel: &keel::Keel, step: &Span) -> keel::Result<()> {
    let (provider, router, llm) = loopback_llm(keel, &["anthropic", "google"]).await?;
    let org = uuid::Uuid::new_v4();
    router
        .grant_credits(org, 5.0, "purchase", Some("demo-llm"))
        .await?;
    provider.script(
        PRIMARY,
        (0..3).map(|_| error(WireKind::Anthropic, 529, "Overloaded")),
    );
    let answer = success_with_usage(
        WireKind::Gemini,
        FALLBACK,
        "Acme renews in March; lead with the usage report.",
        (1_200, 350),
    );
    let replies = (0..4).map(|_| Scripted::Json {
        status: 200,
        headers: Vec::new(),
        body: answer.clone(),
    });
    let streamed = Scripted::Stream {
        chunks: [
            "Acme renews ",
            "in March; ",
            "lead with ",
            "the usage report.",
        ]
        .map(String::from)
        .to_vec(),
        end: StreamEnd::Complete,
        gap: std::time::Duration::ZERO,
    };
    provider.script(FALLBACK, replies.chain([streamed]));
    say!(
        "[7] llm       copilot/low through a provider on loopback ({PRIMARY} overloaded, {FALLBACK} answering):"
    );
    let request = || CallRequest {
        tier: Some(Tier::Low),
        org_id: Some(org),
        traceparent: Some(step.traceparent()),
        ..CallRequest::new(Feature::Copilot, "How do I prep for my Acme meeting?")
    };
    for n in 1..=4 {
        if n == 4 {
            // Failures a fallback answered are reported in the background: wait for the third.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while router.open_breakers().is_empty() && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        let done = llm.complete(&request()).await?;
        let path: Vec<String> = done
            .attempts
            .iter()
            .map(|a| format!("{} {}", a.model, a.outcome))
            .collect();
        say!(
            "              call {n}: {} -> {:.4} credits ({} in / {} out tokens)",
            path.join(", "),
            done.credits_charged,
            done.usage.input_tokens,
            done.usage.output_tokens
        );
    }
    let open: Vec<String> = router
        .open_breakers()
        .into_iter()
        .map(|b| format!("{}/{} {}", b.provider, b.model_id, b.row.state.as_str()))
        .collect();
    say!("              circuits: {}", open.join(", "));
    let mut stream = llm.stream(request()).await?;
    let (mut deltas, mut text) = (0, String::new());
    while let Some(event) = stream.next_event().await {
        match event? {
            StreamEvent::Delta(Piece::Text { text: t }) => {
                deltas += 1;
                text += &t;
            }
            StreamEvent::Delta(_) => {}
            StreamEvent::Done(done) => say!(
                "              streamed from {}: {deltas} deltas, {:?}, {:.4} credits",
                done.model,
                text,
                done.credits_charged
            ),
        }
    }
    let status = router.check_budget(org).await?;
    say!(
        "              org balance 5.0000 -> {:.4}; {} requests reached the provider",
        status.remaining,
        provider.received().len()
    );
    Ok(())
}
