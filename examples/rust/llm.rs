//! Model calls: one `complete` that resolves, reserves credits, calls, falls back, reports and
//! charges; a streamed reply; a summary and embeddings; bad input refused before any request.
//! The same scenario runs in
//! examples/python/llm.py and examples/node/llm.mjs.
//!
//!     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT cargo run -p keelcore --example llm  # `keel loopback`
//!     ANTHROPIC_API_KEY=… GEMINI_API_KEY=… cargo run -p keelcore --example llm     # the real APIs

use keel::llm::{
    CallRequest, EmbedRequest, Llm, LlmOptions, Piece, ProviderConfig, StreamEvent, SummaryRequest,
};
use keel::models::{Feature, ModelRouter, Tier};

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    // A local server (`keel loopback`) when set; else each provider's public API and its key.
    let base = std::env::var("KEEL_LLM_BASE_URL").ok();
    let org = uuid::Uuid::new_v4();
    // --8<-- [start:llm]
    let db = keel::Keel::connect(&url).await?;
    let router = ModelRouter::open(&db, Default::default()).await?;
    let mut options = LlmOptions::default();
    for (provider, path) in [("anthropic", ""), ("google", ""), ("openai", "/v1")] {
        let base_url = base.as_ref().map(|b| format!("{b}{path}"));
        let config = ProviderConfig {
            base_url,
            ..Default::default()
        };
        options.providers.insert(provider.into(), config);
    }
    let llm = Llm::new(&router, options)?;
    router.grant_credits(org, 10.0, "purchase", None).await?;

    let done = llm
        .complete(&CallRequest {
            tier: Some(Tier::Low),
            org_id: Some(org),
            system: Some("Answer in one line.".into()),
            ..CallRequest::new(Feature::Copilot, "How do I prep for my Acme meeting?")
        })
        .await?;
    println!("{}/{}: {}", done.provider, done.model, done.text);
    let usage = done.usage;
    println!(
        "{} attempt(s), {} in / {} out tokens, {:.6} credits",
        done.attempts.len(),
        usage.input_tokens,
        usage.output_tokens,
        done.credits_charged
    );

    let mut stream = llm
        .stream(CallRequest::new(Feature::Copilot, "Summarise the deal."))
        .await?;
    let mut text = String::new();
    while let Some(event) = stream.next_event().await {
        if let StreamEvent::Delta(Piece::Text { text: delta }) = event? {
            text += &delta;
        }
    }
    println!("streamed: {text}");

    let thread = "Acme asked for five more seats; legal wants the DPA before Friday.";
    let summary = llm
        .summarize(&SummaryRequest::new(Feature::Copilot, thread))
        .await?;
    println!("summary: {}", summary.text);
    let embedded = llm
        .embed(&EmbedRequest {
            provider: Some("google"),
            dimensions: Some(4),
            ..EmbedRequest::new(["Acme renewal", "DPA review"])
        })
        .await?;
    println!(
        "embedded {} texts into {} dimensions with {}",
        embedded.vectors.len(),
        embedded.dimensions,
        embedded.model
    );

    let bad = CallRequest {
        max_tokens: Some(0),
        ..CallRequest::new(Feature::Copilot, "hi")
    };
    let err = llm.complete(&bad).await.unwrap_err();
    println!("refused before any request: {}", err.code()); // err.field(): max_tokens
    db.close().await;
    // --8<-- [end:llm]
    Ok(())
}
