//! Conversation memory: open a Slack thread's conversation, append a turn with a tool call and
//! its result, read the running total the database keeps, the compaction threshold of the model
//! that will answer, a compaction that masks old tool results, context carried from Slack to the
//! web, and facts recalled across conversations. The same scenario runs in examples/python/memory.py and
//! examples/node/memory.mjs.
//!
//!     cargo run -p keel --example memory
//!     KEEL_DATABASE_URL=postgres://… cargo run -p keel --example memory

use futures_util::future::BoxFuture;
use keel::llm::Message;
use keel::memory::{
    CompactOptions, ContextEntry, ConversationChannel, ConversationKey, ConversationStore,
    EntityKind, EntityLinker, EntityType, MessageQuery, NewFact, PlanOptions, RecallQuery,
};
use keel::models::ModelRouter;
use keel::tokens::TokenCounter;

/// The platform's lookup of a company by name (a CRM query in a real service).
struct AcmeLookup;

impl EntityLinker for AcmeLookup {
    fn link<'a>(
        &'a self,
        _org: uuid::Uuid,
        _user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, keel::Result<Option<String>>> {
        let id = (kind == EntityKind::Company && name == "Acme").then(|| "company-acme".to_owned());
        Box::pin(async move { Ok(id) })
    }
}

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let org = uuid::Uuid::new_v4();
    // --8<-- [start:memory]
    let db = keel::Keel::connect(&url).await?;
    let store = ConversationStore::open(&db);
    let thread = store
        .start(&ConversationKey {
            org_id: org,
            user_id: "U042".into(),
            channel: ConversationChannel::Slack,
            channel_ref: Some("1733220000.000100".into()),
            title: None,
        })
        .await?;
    let turn: Vec<Message> = serde_json::from_value(serde_json::json!([
        {"role": "user", "content": "What is blocking the Acme renewal?"},
        {"role": "assistant", "content": [
            {"type": "tool_call", "id": "call-1", "name": "crm_lookup", "arguments": {"deal": "Acme"}}]},
        {"role": "tool", "content": [
            {"type": "tool_result", "call_id": "call-1", "content": "stage: legal review"}]},
    ]))
    .expect("a valid turn");
    let appended = store.append(org, thread.id, &turn).await?;
    println!(
        "appended messages {}..{}: {} tokens in the conversation",
        appended.first_seq, appended.last_seq, appended.total_tokens
    );
    let messages = store
        .messages(org, thread.id, &MessageQuery::default())
        .await?;
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    println!("read back: {}", roles.join(", "));
    // What the question costs: exact for an OpenAI model, estimated (and calibrated by the
    // usage a client's calls report) for Claude.
    let question = [Message::user("What is blocking the Acme renewal?")];
    let counter = TokenCounter::default();
    for model in ["gpt-4o", "claude-haiku-4-5"] {
        let n = counter.count_messages(model, &question)?;
        let how = if n.exact { "exact" } else { "estimated" };
        println!("{model}: {} input tokens ({how})", n.tokens);
    }
    // A tool result must answer a call still waiting for one.
    let stray: Vec<Message> =
        serde_json::from_value(serde_json::json!([{"role": "tool", "content": [
        {"type": "tool_result", "call_id": "call-1", "content": "again"}]}]))
        .expect("a valid message");
    let refused = store.append(org, thread.id, &stray).await.unwrap_err();
    println!("a second answer to call-1 is refused: {}", refused.code());
    let router = ModelRouter::open(&db, Default::default()).await?;
    let limit = router.compaction_threshold("claude-haiku-4-5-20251001", &Default::default())?;
    println!("compact this thread above {} tokens", limit.threshold);
    // Twelve more lookups with 4 kB results, then a compaction under a small budget: old tool
    // results become stubs (no model call); with a summarizer the middle would also be summarised.
    for i in 2..=13 {
        let turn: Vec<Message> = serde_json::from_value(serde_json::json!([
            {"role": "user", "content": format!("And deal {i}?")},
            {"role": "assistant", "content": [{"type": "tool_call", "id": format!("call-{i}"),
              "name": "crm_lookup", "arguments": {"deal": i}}]},
            {"role": "tool", "content": [{"type": "tool_result", "call_id": format!("call-{i}"),
              "content": "x".repeat(4_000)}]},
        ]))
        .expect("a valid turn");
        store.append(org, thread.id, &turn).await?;
    }
    let options = CompactOptions {
        plan: PlanOptions {
            threshold: 6_000,
            tool_result_tokens: 1_000,
            ..PlanOptions::default()
        },
        ..CompactOptions::default()
    };
    let done = store.compact(org, thread.id, &options, None).await?;
    let c = done.compaction.expect("over the threshold");
    println!(
        "compaction {} ({}): {} -> {} tokens, {} tool results masked",
        c.number,
        c.method.as_str(),
        c.tokens_before,
        c.tokens_after,
        c.masked.len()
    );
    let window = store.context(org, thread.id, 6_000).await?;
    println!(
        "sent to the model: {} messages, {} tokens",
        window.messages.len(),
        window.tokens
    );
    // What was said in the Slack thread about the Acme deal, carried into a web question.
    let (user, deal) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    store
        .upsert_context(&ContextEntry {
            org_id: org,
            user_id: user,
            channel: ConversationChannel::Slack,
            channel_ref: Some("1733220000.000100".into()),
            entity_type: EntityType::Deal,
            entity_id: deal,
            summary: "Acme renewal is in legal review; Dana wants the usage report.".into(),
            entity_name: None,
            agent_name: None,
            last_updated: String::new(),
        })
        .await?;
    let prior = store
        .prior_context(org, user, "How do I prep for the Acme call?")
        .await?;
    let chosen = &prior.entries[0];
    println!(
        "prior context for {:?}: from {} about the {}, score {}",
        prior.terms,
        chosen.entry.channel.as_str(),
        chosen.entry.entity_type.as_str(),
        chosen.score
    );
    // Facts kept about the rep across conversations: the company linked to the platform's id by
    // a lookup of the caller's, then the best ones recalled for a later question.
    let facts: Vec<NewFact> = serde_json::from_value(serde_json::json!([
        {"category": "commitment", "subject": "Acme usage report",
         "content": "Dana wants the usage report by Friday", "company_name": "Acme"},
        {"category": "preference", "subject": "Reports",
         "content": "Prefers weekly pipeline reports by email"},
    ]))
    .expect("facts");
    store
        .add_facts(org, "U042", &facts, None, Some(&AcmeLookup))
        .await?;
    let recall = store
        .recall(
            org,
            "U042",
            "What does Dana need from us for Acme?",
            &RecallQuery::default(),
        )
        .await?;
    let best = &recall.facts[0];
    println!(
        "recalled '{}' (company {}), score {:.2}",
        best.fact.subject,
        best.fact.company_id.as_deref().unwrap_or("none"),
        best.score.score
    );
    db.close().await;
    // --8<-- [end:memory]
    Ok(())
}
