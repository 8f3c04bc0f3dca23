//! Slack threads: a copilot thread found or created for its first message, a
//! `conversations.replies` page ingested (a redelivery stored once), a turn recorded, the
//! thread's context extracted at its watermark by the router's enrichment model with the deal
//! resolved by your lookup, the Slack conclusion read from the web, forgotten, and the thread's
//! history. The same scenario runs in examples/python/threads.py and examples/node/threads.mjs.
//!
//!     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT cargo run -p keelcore --example threads  # `keel loopback`
//!     ANTHROPIC_API_KEY=… cargo run -p keelcore --example threads

use futures_util::future::BoxFuture;
use keel::channels::threads::{SweepOptions, ThreadKey, ThreadOptions, ThreadStore, ThreadTurn};
use keel::llm::{Llm, LlmOptions, ProviderConfig};
use keel::memory::{AskingFrom, ConversationChannel, EntityKind, EntityLinker, EntityType};
use keel::models::ModelRouter;
use serde_json::json;
use uuid::Uuid;

const ORG: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_00a7);
const REP: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_00b7);
const DEAL: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_de07);
const THREAD_TS: &str = "1733220000.000100";
const LINES: [&str; 10] = [
    "Where is the Acme Renewal?",
    "Legal has the redlines; Dana owns them.",
    "What did they push back on?",
    "The liability cap and a 12% discount.",
    "Can we hold the discount at 8%?",
    "Finance approved 8% on a two-year term.",
    "Draft the reply to Dana.",
    "Drafted: 8% on two years, cap unchanged.",
    "Sent. Dana says legal signs Friday.",
    "Noted: signature expected Friday.",
];

/// Your deal lookup (a CRM query, a search service).
struct Deals;

impl EntityLinker for Deals {
    fn link<'a>(
        &'a self,
        _org: Uuid,
        _user: &'a str,
        _kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, keel::Result<Option<String>>> {
        Box::pin(async move { Ok((name == "Acme Renewal").then(|| DEAL.to_string())) })
    }
}

/// A `conversations.replies` page: the rep (U0REP) and the copilot's bot (U0BOT) in turn.
fn replies_page() -> serde_json::Value {
    let messages: Vec<_> = LINES
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let user = if i % 2 == 1 { "U0BOT" } else { "U0REP" };
            json!({"type": "message", "user": user, "text": text, "ts": format!("17332200{i:02}.000100")})
        })
        .collect();
    json!({"ok": true, "messages": messages})
}

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    // A local server (`keel loopback`) when set; else Anthropic itself, with your key.
    let base = std::env::var("KEEL_LLM_BASE_URL").ok();
    // --8<-- [start:threads]
    let db = keel::Keel::connect(&url).await?;
    let threads = ThreadStore::open(&db, ThreadOptions::default())?;
    let thread = threads
        .get_or_create(&ThreadKey {
            org_id: ORG,
            user_id: REP,
            slack_team_id: "T0ACME".into(),
            slack_channel_id: "C0DEALS".into(),
            slack_thread_ts: THREAD_TS.into(),
            title: None,
        })
        .await?;
    let page = replies_page();
    let done = threads.ingest(ORG, thread.id, &page, Some("U0BOT")).await?;
    let [first, last] = done.seqs.unwrap_or_default();
    println!(
        "ingested {} messages as seqs {first}..{last}; extraction due: {}",
        done.added, done.extraction_due
    );
    let again = threads.ingest(ORG, thread.id, &page, Some("U0BOT")).await?;
    println!(
        "redelivered: {} added, {} duplicates",
        again.added, again.duplicates
    );
    let turn = ThreadTurn {
        intent: Some("deal_query".into()),
        credits: 0.5,
        action: None,
    };
    let turn = threads.record_turn(ORG, thread.id, &turn).await?;
    println!(
        "turns {}, intents {}, credits {}",
        turn.turns.len(),
        turn.intents_used.join(", "),
        turn.credits_consumed
    );

    let router = ModelRouter::open(&db, Default::default()).await?;
    let mut options = LlmOptions::default();
    if let Some(base) = base {
        let config = ProviderConfig {
            base_url: Some(base),
            ..ProviderConfig::default()
        };
        options.providers.insert("anthropic".into(), config);
    }
    let llm = Llm::new(&router, options)?;
    let sweep = threads
        .sweep(&SweepOptions::default(), &llm, Some(&Deals))
        .await?;
    let extraction = &sweep.threads[0];
    println!(
        "sweep: {} claimed, {} extracted through {}",
        sweep.claimed, sweep.extracted, extraction.extracted_through
    );
    println!("  summary: {}", extraction.summary.as_deref().unwrap_or(""));
    for e in &extraction.entities {
        let how = if e.entity_id.is_some() {
            "resolved"
        } else {
            "kept as text"
        };
        println!("  {} {}: {how}", e.entity_type.as_str(), e.name);
    }

    let memory = threads.conversations();
    let web = AskingFrom {
        channel: ConversationChannel::Web,
        channel_ref: None,
    };
    let message = "Where does the Acme Renewal stand?";
    let context = memory
        .context_for_user(ORG, REP, message, Some(&web))
        .await?;
    for chosen in &context.entries {
        let entry = &chosen.entry;
        println!(
            "web sees ({}): {} {} {}",
            chosen.score,
            entry.channel.as_str(),
            entry.entity_type.as_str(),
            entry.entity_name.as_deref().unwrap_or("")
        );
    }
    let forgotten = memory
        .forget_context(ORG, REP, EntityType::Deal, DEAL)
        .await?;
    println!("forgot the deal: {} row(s)", forgotten.removed);
    for item in threads.history(ORG, thread.id, 2).await? {
        println!("  [{}] {}: {}", item.seq, item.role.as_str(), item.content);
    }
    if let Err(err) = threads.history(ORG, thread.id, 0).await {
        println!(
            "refused: {} ({})",
            err.code(),
            err.field().unwrap_or_default()
        );
    }
    // --8<-- [end:threads]
    db.close().await;
    Ok(())
}
