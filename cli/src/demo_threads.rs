//! The demo's Slack step: a copilot thread ingested from Slack's JSON (a redelivery stored
//! once), its context extracted at the watermark by the router's enrichment model (on
//! loopback) with the deal resolved by the platform's lookup, and the same deal then asked
//! about on the web with the Slack conclusion in its context.

use futures_util::future::BoxFuture;
use keel::channels::threads::{SweepOptions, ThreadKey, ThreadOptions, ThreadStore};
use keel::memory::{AskingFrom, ConversationChannel, EntityKind, EntityLinker};
use keel::models::{Feature, ModelRequest, Tier};
use serde_json::json;
use uuid::Uuid;

use crate::loopback::{Scripted, WireKind, success};
use crate::output::say;

const ORG: Uuid = Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0007);
const REP: Uuid = Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0008);
const DEAL: Uuid = Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_de07);
const THREAD_TS: &str = "1733220000.000100";

/// The platform's deal lookup, as a caller would give it.
struct Deals;

impl EntityLinker for Deals {
    fn link<'a>(
        &'a self,
        _org: Uuid,
        _user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, keel::Result<Option<String>>> {
        let found = kind == EntityKind::Deal && name.eq_ignore_ascii_case("Acme Renewal");
        Box::pin(async move { Ok(found.then(|| DEAL.to_string())) })
    }
}

/// A `conversations.replies` page: the rep and the copilot's bot, twelve messages.
fn thread_page() -> serde_json::Value {
    let lines = [
        "Where is the Acme Renewal?",
        "Legal has the redlines since Monday; Dana Whitfield owns them.",
        "What did they push back on?",
        "The liability cap and a 12% discount ask.",
        "Can we hold the discount at 8%?",
        "Finance approved 8% if they sign a two-year term.",
        "Draft the reply to Dana.",
        "Drafted: 8% on a two-year term, liability cap unchanged.",
        "Sent. She says legal can sign Friday.",
        "Noted: signature expected Friday.",
        "Remind me Thursday to check in.",
        "Reminder set for Thursday 10:00.",
    ];
    let messages: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let user = if i % 2 == 0 { "U0REP" } else { "U0BOT" };
            json!({"type": "message", "user": user, "text": text,
                   "ts": format!("17332200{:02}.000100", i), "thread_ts": THREAD_TS})
        })
        .collect();
    json!({"ok": true, "messages": messages, "has_more": false})
}

/// Runs step [14].
pub async fn run(keel: &keel::Keel) -> keel::Result<()> {
    let (provider, router, llm) = crate::demo_llm::loopback_llm(keel, &["anthropic"]).await?;
    // Step [7] left the low tier's only model with an open circuit: the extraction asks for
    // the medium tier, as a platform would while it cools down.
    let model = router.resolve_now(&ModelRequest {
        feature: Some(Feature::Enrichment),
        tier: Some(Tier::Medium),
        ..ModelRequest::default()
    })?;
    let answer = json!({
        "summary": "Acme Renewal: finance approved 8% on a two-year term, liability cap \
                    unchanged; Dana Whitfield expects legal to sign Friday.",
        "entities": [{"entity_type": "deal", "name": "Acme Renewal"},
                     {"entity_type": "contact", "name": "Dana Whitfield"}]
    });
    provider.script(
        &model.model_id,
        [Scripted::Json {
            status: 200,
            headers: Vec::new(),
            body: success(WireKind::Anthropic, &model.model_id, &answer.to_string()),
        }],
    );
    let threads = ThreadStore::open(keel, ThreadOptions::default())?;
    let thread = threads
        .get_or_create(&ThreadKey {
            org_id: ORG,
            user_id: REP,
            slack_team_id: "T0ACME".into(),
            slack_channel_id: "C0DEALS".into(),
            slack_thread_ts: THREAD_TS.into(),
            title: Some("Acme Renewal".into()),
        })
        .await?;
    let page = thread_page();
    let ingested = threads.ingest(ORG, thread.id, &page, Some("U0BOT")).await?;
    let again = threads.ingest(ORG, thread.id, &page, Some("U0BOT")).await?;
    say!(
        "[14] slack    a thread of {} messages ingested from conversations.replies JSON \
         (redelivered: {} added, {} duplicates); extraction due: {}",
        ingested.added,
        again.added,
        again.duplicates,
        ingested.extraction_due
    );
    let mut options = SweepOptions::default();
    options.extract.call.tier = Some(Tier::Medium);
    let sweep = threads.sweep(&options, &llm, Some(&Deals)).await?;
    let done = sweep
        .threads
        .first()
        .ok_or_else(|| keel::Error::Internal("the sweep found no due thread".into()))?;
    let entities: Vec<String> = done
        .entities
        .iter()
        .map(|e| match e.entity_id {
            Some(_) => format!("{} {} (resolved)", e.entity_type.as_str(), e.name),
            None => format!("{} {} (kept as text)", e.entity_type.as_str(), e.name),
        })
        .collect();
    say!(
        "              sweep: {} claimed, extracted through message {} by {} (enrichment/{}); {}",
        sweep.claimed,
        done.extracted_through,
        model.model_id,
        model.tier.as_str(),
        entities.join(", ")
    );
    let web = threads
        .conversations()
        .context_for_user(
            ORG,
            REP,
            "Where does the Acme Renewal stand?",
            Some(&AskingFrom {
                channel: ConversationChannel::Web,
                channel_ref: None,
            }),
        )
        .await?;
    let line = web
        .block
        .as_deref()
        .and_then(|b| b.lines().nth(1))
        .ok_or_else(|| keel::Error::Internal("the web question carried no context".into()))?;
    say!("              on the web, \"Where does the Acme Renewal stand?\" carries:");
    say!("              {line}");
    Ok(())
}
