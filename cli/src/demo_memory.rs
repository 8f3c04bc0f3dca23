//! The demo's memory step: a 300-message conversation with tool calls compacted under a model's
//! threshold (old tool results masked, the middle summarised by a model on loopback), the
//! context sent afterwards, a second instance finding the compaction already made, facts
//! extracted from the oldest turns and recalled in a later conversation, and what a rep said in
//! a Slack thread carried into a web question.

use keel::llm::{CallRequest, Message};
use keel::memory::{
    CompactOptions, ContextEntry, ConversationChannel, ConversationKey, ConversationStore,
    EntityType, ExtractOptions, PlanOptions, RecallQuery, ThresholdOptions,
};
use keel::telemetry::Span;
use serde_json::json;

use crate::loopback::{Loopback, Scripted, WireKind, success};
use crate::output::say;

/// The model whose threshold the conversation is compacted under (a dated id).
const MODEL: &str = "claude-haiku-4-5-20251001";
/// The model that writes the summary.
const SUMMARY_MODEL: &str = "claude-sonnet-4-6";
/// The model that extracts facts.
const FACTS_MODEL: &str = "claude-haiku-4-5";

/// 75 rounds of a question, a CRM lookup, its 6 kB result and an 8 kB analysis: 300 messages.
fn rounds() -> keel::Result<Vec<Message>> {
    let mut out = Vec::new();
    for i in 0..75 {
        let deal = ["Acme", "Globex", "Initech", "Hooli"][i % 4];
        out.push(Message::user(format!(
            "What changed on the {deal} deal this week? ({i})"
        )));
        let turns = json!([
            {"role": "assistant", "content": [{"type": "tool_call", "id": format!("call-{i}"),
              "name": "crm_search", "arguments": {"deal": deal, "since": "7d"}}]},
            {"role": "tool", "content": [{"type": "tool_result", "call_id": format!("call-{i}"),
              "content": format!("{{\"deal\":\"{deal}\",\"activity\":\"{}\"}}", "x".repeat(6_000))}]},
        ]);
        out.extend(
            serde_json::from_value::<Vec<Message>>(turns)
                .map_err(|e| keel::Error::Internal(format!("the demo's messages: {e}")))?,
        );
        let analysis = format!("{deal}: legal has the redlines; next step is a call. ").repeat(160);
        out.push(Message::assistant(analysis));
    }
    Ok(out)
}

/// Runs step [9].
pub async fn run(keel: &keel::Keel, step: &Span) -> keel::Result<()> {
    let (provider, router, llm) = crate::demo_llm::loopback_llm(keel, &["anthropic"]).await?;
    let summary = "**Decisions & Conclusions**\n- Acme and Globex move to legal review.\n\
                   **Actions & Follow-ups**\n- Send Initech the usage report.";
    provider.script(
        SUMMARY_MODEL,
        [Scripted::Json {
            status: 200,
            headers: Vec::new(),
            body: success(WireKind::Anthropic, SUMMARY_MODEL, summary),
        }],
    );

    let store = ConversationStore::open(keel);
    let org = uuid::Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0004);
    let key = ConversationKey {
        org_id: org,
        user_id: "rep-7".into(),
        channel: ConversationChannel::Web,
        channel_ref: None,
        title: Some("Pipeline review".into()),
    };
    let conversation = store.start(&key).await?;
    let mut appended = None;
    for batch in rounds()?.chunks(150) {
        appended = Some(store.append(org, conversation.id, batch).await?);
    }
    let appended = appended.expect("two batches");
    let threshold = router.compaction_threshold(MODEL, &ThresholdOptions::default())?;
    say!(
        "[9] memory    {} messages with tool calls, {} tokens; {MODEL} compacts above {}:",
        appended.message_count,
        appended.total_tokens,
        threshold.threshold
    );
    let options = CompactOptions {
        plan: PlanOptions {
            threshold: threshold.threshold,
            ..PlanOptions::default()
        },
        summary_call: CallRequest {
            provider: Some("anthropic"),
            model: Some(SUMMARY_MODEL.into()),
            traceparent: Some(step.traceparent()),
            ..CallRequest::default()
        },
        ..CompactOptions::default()
    };
    let done = store
        .compact(org, conversation.id, &options, Some(&llm))
        .await?;
    let compaction = done
        .compaction
        .ok_or_else(|| keel::Error::Internal("the demo's conversation did not compact".into()))?;
    let range = |r: Option<[u64; 2]>| r.map_or("none".into(), |[a, b]| format!("{a}-{b}"));
    say!(
        "              compaction {} ({}): {} -> {} tokens; {} tool results masked, \
         messages {} summarised, {} left to facts",
        compaction.number,
        compaction.method.as_str(),
        compaction.tokens_before,
        compaction.tokens_after,
        compaction.masked.len(),
        range(compaction.summarized),
        range(compaction.facts)
    );
    let window = store
        .context_for(org, conversation.id, &router, MODEL)
        .await?;
    say!(
        "              context for {MODEL}: {} messages, {} tokens (trimmed: {}); the transcript keeps all {}",
        window.messages.len(),
        window.tokens,
        window.trimmed,
        store.get(org, conversation.id).await?.message_count
    );
    let keyed = CompactOptions {
        idempotency_key: Some(compaction.idempotency_key.clone()),
        ..options
    };
    let again = store
        .compact(org, conversation.id, &keyed, Some(&llm))
        .await?;
    say!(
        "              a second instance with the same key: applied {}, compaction {}; {} summary call made",
        again.applied,
        again.compaction.map_or(0, |c| c.number),
        provider.received().len()
    );
    facts(
        &store,
        org,
        conversation.id,
        compaction.facts,
        (&provider, &llm),
        step,
    )
    .await?;
    // What the rep said in a Slack thread about the Acme deal, carried into a web question.
    let (user, deal) = (
        uuid::Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0005),
        uuid::Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0006),
    );
    store
        .upsert_context(&ContextEntry {
            org_id: org,
            user_id: user,
            channel: ConversationChannel::Slack,
            channel_ref: Some("1733220000.000100".into()),
            entity_type: EntityType::Deal,
            entity_id: deal,
            summary: "Acme renewal is in legal review; Dana wants the usage report by Friday."
                .into(),
            entity_name: None,
            agent_name: None,
            last_updated: String::new(),
        })
        .await?;
    let prior = store
        .prior_context(org, user, "How do I prep for the Acme call?")
        .await?;
    let chosen = prior.entries.first().ok_or_else(|| {
        keel::Error::Internal("the Slack thread's context did not carry over".into())
    })?;
    say!(
        "              Slack thread -> web: {:?} finds the {} context (score {}), a {}-character block",
        prior.terms,
        chosen.entry.entity_type.as_str(),
        chosen.score,
        prior.block.as_deref().map_or(0, |b| b.chars().count())
    );
    Ok(())
}

/// Facts from the turns the compaction left to facts, through a model on loopback, then
/// recalled in a later conversation of the same rep.
async fn facts(
    store: &ConversationStore,
    org: uuid::Uuid,
    conversation: uuid::Uuid,
    range: Option<[u64; 2]>,
    (provider, llm): (&Loopback, &keel::llm::Llm),
    step: &Span,
) -> keel::Result<()> {
    let [from, _] = range.ok_or_else(|| keel::Error::Internal("no turns left to facts".into()))?;
    let answer = json!([
        {"category": "commitment", "subject": "Initech usage report",
         "content": "We promised Initech the usage report before their renewal call",
         "confidence": 0.9, "source": [from], "company_name": "Initech"},
        {"category": "deal", "subject": "Acme redlines",
         "content": "Acme's legal team has the redlines; the next step is a call",
         "confidence": 0.8, "source": [from + 3], "company_name": "Acme"},
        {"category": "fact", "subject": "Weather", "content": "It rained in Austin",
         "confidence": 0.2},
    ]);
    provider.script(
        FACTS_MODEL,
        [Scripted::Json {
            status: 200,
            headers: Vec::new(),
            body: success(WireKind::Anthropic, FACTS_MODEL, &answer.to_string()),
        }],
    );
    let options = ExtractOptions {
        call: CallRequest {
            provider: Some("anthropic"),
            model: Some(FACTS_MODEL.into()),
            traceparent: Some(step.traceparent()),
            ..CallRequest::default()
        },
        ..ExtractOptions::default()
    };
    let extracted = store
        .extract_facts(org, conversation, &options, llm, None)
        .await?;
    say!(
        "              facts from messages {}: {} kept, {} under 0.5 confidence; provenance: seqs {:?}",
        extracted
            .range
            .map_or("none".into(), |[a, b]| format!("{a}-{b}")),
        extracted.facts.len(),
        extracted.below_confidence,
        extracted
            .facts
            .first()
            .map(|f| f.source_seqs.clone())
            .unwrap_or_default()
    );
    let later = store
        .start(&ConversationKey {
            org_id: org,
            user_id: "rep-7".into(),
            channel: ConversationChannel::Slack,
            channel_ref: Some("1733300000.000200".into()),
            title: None,
        })
        .await?;
    let question = "What did we promise Initech before the renewal?";
    let recall = store
        .recall(org, "rep-7", question, &RecallQuery::default())
        .await?;
    let best = recall
        .facts
        .first()
        .ok_or_else(|| keel::Error::Internal("nothing recalled".into()))?;
    say!(
        "              a later conversation ({}) recalls {:?} (score {:.2}) for {question:?}",
        later.channel.as_str(),
        best.fact.subject,
        best.score.score
    );
    Ok(())
}
