//! Slack copilot threads on both backends: one thread however many first messages race (in
//! four processes), each Slack `ts` stored once, counters and lists moved atomically,
//! extraction at its watermark that survives a summarizer outage, the Slack conclusion read
//! from the web, fleet rows with their agent, forgetting an entity.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;
use serde_json::json;
use uuid::Uuid;

use common::{fresh_url, on_each_backend};
use keel::channels::threads::{
    ActiveEntities, ExtractionStatus, SweepOptions, ThreadKey, ThreadMessage, ThreadOptions,
    ThreadStore, ThreadTurn,
};
use keel::llm::{Role, Summarizer, Summary, SummaryRequest};
use keel::memory::{
    AskingFrom, ContextEntry, ConversationChannel, EntityKind, EntityLinker, EntityType,
};
use keel::store::Backend;
use keel::{Error, Keel, Result};

const ORG: Uuid = Uuid::from_u128(0x0a00_0000_0000_4000_8000_0000_0000_0001);
const USER: Uuid = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0001);
const DEAL: Uuid = Uuid::from_u128(0x0d00_0000_0000_4000_8000_0000_0000_0001);

fn key(ts: &str, user: Uuid) -> ThreadKey {
    ThreadKey {
        org_id: ORG,
        user_id: user,
        slack_team_id: "T1".into(),
        slack_channel_id: "C1".into(),
        slack_thread_ts: ts.into(),
        title: None,
    }
}

fn message(n: u64, role: Role, text: &str) -> ThreadMessage {
    ThreadMessage {
        slack_ts: format!("1733220000.{n:06}"),
        role,
        text: text.into(),
        slack_user: Some(if role == Role::User { "U1" } else { "B1" }.into()),
        intent: None,
        metadata: None,
    }
}

/// A model that answers with its script (an outage when `None`) and keeps what it read.
#[derive(Default)]
struct Scripted {
    answer: Mutex<Option<String>>,
    calls: AtomicUsize,
    seen: Mutex<String>,
}

impl Summarizer for Scripted {
    fn summarize<'a>(&'a self, request: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            *self.seen.lock().unwrap() = request.text.clone();
            match self.answer.lock().unwrap().clone() {
                Some(text) => Ok(Summary {
                    text,
                    completion: None,
                }),
                None => Err(Error::Timeout {
                    operation: "the model".into(),
                    after_ms: 1,
                }),
            }
        })
    }
}

/// Finds the deal "Acme Renewal" (any case); nothing else.
struct Deals;

impl EntityLinker for Deals {
    fn link<'a>(
        &'a self,
        _org: Uuid,
        _user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            Ok(
                (kind == EntityKind::Deal && name.eq_ignore_ascii_case("acme renewal"))
                    .then(|| DEAL.to_string()),
            )
        })
    }
}

async fn make_due(keel: &Keel) {
    let sql = "UPDATE slack_copilot_threads SET extraction_due_at = '2000-01-01T00:00:00.000Z'";
    match keel.pool().unwrap() {
        keel::Pool::Postgres(p) => sqlx::query(sql).execute(p).await.unwrap().rows_affected(),
        keel::Pool::Sqlite(p) => sqlx::query(sql).execute(p).await.unwrap().rows_affected(),
    };
}

async fn conversations(keel: &Keel) -> i64 {
    let sql = "SELECT count(*) FROM conversations WHERE channel = 'slack'";
    match keel.pool().unwrap() {
        keel::Pool::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        keel::Pool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// Four OS processes, each with a different user, send 50 first messages into one new
/// thread at the same moment: one thread, one conversation, 50 messages, seqs 1 to 50.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_first_messages_from_four_processes_make_one_thread() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        let keel = Keel::connect(&url).await.unwrap();
        let store = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
        let me: u64 = std::env::var("KEEL_CHILD_INDEX").unwrap().parse().unwrap();
        let user = Uuid::from_u128(0x0b00_0000_0000_4000_8000_0000_0000_0010 + u128::from(me));
        common::wait_for_start().await;
        let tasks: Vec<_> = (0..13)
            .filter(|i| me * 13 + i < 50)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let thread = store
                        .get_or_create(&key("1733220000.000001", user))
                        .await
                        .unwrap();
                    let m = message(me * 13 + i + 1, Role::User, "first!");
                    store.add_messages(ORG, thread.id, &[m]).await.unwrap();
                    thread.id
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap().to_string());
        }
        ids.dedup();
        println!("KEEL_CHILD {}", ids.join(","));
        keel.close().await;
        return;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        Keel::connect(&url).await.unwrap().close().await;
        let reports = common::run_children(
            "fifty_first_messages_from_four_processes_make_one_thread",
            4,
            &[("KEEL_CHILD_URL", url.clone())],
        );
        let mut ids: Vec<&str> = reports.iter().flat_map(|r| r.split(',')).collect();
        ids.dedup();
        assert_eq!(ids.len(), 1, "{backend:?}: {reports:?}");
        let keel = Keel::connect(&url).await.unwrap();
        let store = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
        let thread = store.get(ORG, ids[0].parse().unwrap()).await.unwrap();
        assert_eq!(thread.message_count, 50, "{backend:?}");
        let convo = store
            .conversations()
            .get(ORG, thread.conversation_id)
            .await
            .unwrap();
        assert_eq!(convo.message_count, 50, "{backend:?}");
        assert_eq!(
            conversations(&keel).await,
            1,
            "{backend:?}: the losers' conversations"
        );
        let history = store.history(ORG, thread.id, 100).await.unwrap();
        let seqs: Vec<u64> = history.iter().map(|h| h.seq).collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>(), "{backend:?}");
        keel.close().await;
    }
}

#[tokio::test]
async fn a_redelivered_message_is_stored_once_and_counters_move_atomically() {
    on_each_backend(|backend, keel| async move {
        let store = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
        let thread = store.get_or_create(&key("1733220000.000100", USER)).await.unwrap();
        let page = json!({"ok": true, "messages": [
            {"type": "message", "user": "U1", "ts": "1733220000.000100", "text": "Acme?"},
            {"type": "message", "user": "UBOT", "bot_id": "B1", "ts": "1733220001.000100", "text": "In legal."},
            {"type": "message", "subtype": "channel_join", "user": "U2", "ts": "1733220002.000100"}
        ]});
        let first = store.ingest(ORG, thread.id, &page, Some("UBOT")).await.unwrap();
        assert_eq!((first.added, first.duplicates), (2, 0), "{backend:?}");
        assert_eq!(first.skipped.len(), 1, "{backend:?}: the join is not a message");
        let again = store.ingest(ORG, thread.id, &page, Some("UBOT")).await.unwrap();
        assert_eq!((again.added, again.duplicates, again.message_count), (0, 2, 2), "{backend:?}");
        let history = store.history(ORG, thread.id, 10).await.unwrap();
        assert_eq!(history[1].role, Role::Assistant, "{backend:?}");
        assert_eq!(history[1].content, "In legal.", "{backend:?}");

        // 25 turns at once: every intent, every credit, the last 20 turns.
        let turns: Vec<_> = (0..25)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let turn = ThreadTurn {
                        intent: Some(format!("intent-{i}")),
                        credits: 0.5,
                        action: (i % 5 == 0).then(|| json!({"type": "draft_email", "n": i})),
                    };
                    store.record_turn(ORG, thread.id, &turn).await.unwrap();
                })
            })
            .collect();
        for t in turns {
            t.await.unwrap();
        }
        let thread = store.get(ORG, thread.id).await.unwrap();
        assert_eq!(thread.intents_used.len(), 25, "{backend:?}");
        assert_eq!(thread.credits_consumed, 12.5, "{backend:?}");
        assert_eq!(thread.actions_taken.len(), 5, "{backend:?}");
        assert_eq!(thread.turns.len(), 20, "{backend:?}");
        assert_eq!(thread.turns[19]["intent"], thread.intents_used[24].as_str(), "{backend:?}");

        // A switch of deal drops the loaded context; the same deal keeps it.
        let deal = ActiveEntities {
            deal_id: Some(DEAL),
            ..ActiveEntities::default()
        };
        let loaded = json!({"deal": "Acme Renewal"});
        let t = store.set_active(ORG, thread.id, &deal, Some(&loaded)).await.unwrap();
        assert_eq!(t.loaded_context, None, "{backend:?}: a new deal is a switch");
        let t = store.set_active(ORG, thread.id, &deal, Some(&loaded)).await.unwrap();
        assert_eq!(t.loaded_context, Some(loaded.clone()), "{backend:?}");
        let other = ActiveEntities {
            deal_id: Some(Uuid::new_v4()),
            ..ActiveEntities::default()
        };
        let t = store.set_active(ORG, thread.id, &other, None).await.unwrap();
        assert_eq!(t.loaded_context, None, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn extraction_waits_for_its_watermark_and_survives_an_outage() {
    on_each_backend(|backend, keel| async move {
        let store = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
        let thread = store
            .get_or_create(&key("1733220000.000200", USER))
            .await
            .unwrap();
        let model = Scripted::default();
        let options = SweepOptions::default();
        let nine: Vec<_> = (1..=9)
            .map(|n| {
                message(
                    n,
                    if n % 2 == 1 {
                        Role::User
                    } else {
                        Role::Assistant
                    },
                    "Acme Renewal pricing",
                )
            })
            .collect();
        let added = store.add_messages(ORG, thread.id, &nine).await.unwrap();
        assert!(!added.extraction_due, "{backend:?}: 9 < 10");
        assert!(
            added.extraction_due_at.is_some(),
            "{backend:?}: due once quiet"
        );
        let sweep = store.sweep(&options, &model, Some(&Deals)).await.unwrap();
        assert_eq!(sweep.claimed, 0, "{backend:?}: not due yet");

        let tenth = message(10, Role::User, "Legal signed off; close on Friday.");
        let added = store.add_messages(ORG, thread.id, &[tenth]).await.unwrap();
        assert!(added.extraction_due, "{backend:?}: 10 since the watermark");

        // The model is down: the watermark stays, the attempt is counted, retried later.
        let sweep = store.sweep(&options, &model, Some(&Deals)).await.unwrap();
        assert_eq!((sweep.claimed, sweep.failed), (1, 1), "{backend:?}");
        let t = store.get(ORG, thread.id).await.unwrap();
        assert_eq!(
            (t.extracted_through, t.extraction_attempts),
            (0, 1),
            "{backend:?}"
        );
        let error = t.extraction_error.unwrap();
        assert!(error.contains("the model"), "{backend:?}: {error}");
        let sweep = store.sweep(&options, &model, Some(&Deals)).await.unwrap();
        assert_eq!(sweep.claimed, 0, "{backend:?}: backing off");

        // Back up: one extraction through message 10, the latest exchange included.
        *model.answer.lock().unwrap() = Some(
            "```json\n{\"summary\": \"Acme Renewal: legal signed off; closing Friday.\", \
             \"entities\": [{\"entity_type\": \"deal\", \"name\": \"Acme Renewal\"}, \
             {\"entity_type\": \"contact\", \"name\": \"Dana Whitfield\"}]}\n```"
                .into(),
        );
        make_due(&keel).await;
        let sweep = store.sweep(&options, &model, Some(&Deals)).await.unwrap();
        assert_eq!(
            (sweep.claimed, sweep.extracted),
            (1, 1),
            "{backend:?}: {sweep:?}"
        );
        assert!(
            model
                .seen
                .lock()
                .unwrap()
                .contains("[10] Rep: Legal signed off")
        );
        let done = &sweep.threads[0];
        assert_eq!(done.status, ExtractionStatus::Extracted);
        assert_eq!(
            (done.extracted_through, done.contexts_written),
            (10, 1),
            "{backend:?}"
        );
        assert_eq!(
            done.entities[1].entity_id, None,
            "{backend:?}: Dana is kept unresolved"
        );
        let t = store.get(ORG, thread.id).await.unwrap();
        assert_eq!(
            (t.extracted_through, t.extraction_attempts),
            (10, 0),
            "{backend:?}"
        );
        assert_eq!(t.extraction_due_at, None, "{backend:?}: nothing waits");
        assert_eq!(
            t.context["entities"][1]["name"], "Dana Whitfield",
            "{backend:?}"
        );
        let calls = model.calls.load(Ordering::SeqCst);
        make_due(&keel).await;
        let sweep = store.sweep(&options, &model, Some(&Deals)).await.unwrap();
        assert_eq!(sweep.nothing_new, 1, "{backend:?}");
        assert_eq!(
            model.calls.load(Ordering::SeqCst),
            calls,
            "{backend:?}: no call for nothing"
        );

        // The web copilot asked about the deal sees the Slack conclusion; the thread itself
        // does not read its own row back.
        let memory = store.conversations();
        let web = memory
            .context_for_user(ORG, USER, "Where is Acme Renewal?", None)
            .await
            .unwrap();
        let block = web.block.unwrap();
        assert!(
            block.contains("slack_copilot — deal Acme Renewal"),
            "{backend:?}: {block}"
        );
        assert!(block.contains("closing Friday"), "{backend:?}");
        let own = AskingFrom {
            channel: ConversationChannel::Slack,
            channel_ref: Some("T1/C1/1733220000.000200".into()),
        };
        let from_slack = memory
            .context_for_user(ORG, USER, "Where is Acme Renewal?", Some(&own))
            .await
            .unwrap();
        assert!(from_slack.entries.is_empty(), "{backend:?}");

        // A fleet agent's rows: one per agent and entity, replaced on each run.
        for run in ["first run", "second run"] {
            let entry = ContextEntry {
                org_id: ORG,
                user_id: USER,
                channel: ConversationChannel::Agent,
                channel_ref: None,
                entity_type: EntityType::Deal,
                entity_id: DEAL,
                summary: format!("Enriched Acme Renewal ({run})."),
                entity_name: Some("Acme Renewal".into()),
                agent_name: Some("deal-enricher".into()),
                last_updated: String::new(),
            };
            let stored = memory.upsert_context(&entry).await.unwrap();
            assert_eq!(stored.channel_ref.as_deref(), Some("deal-enricher"));
        }
        let both = memory
            .context_for_user(ORG, USER, "Acme Renewal", None)
            .await
            .unwrap();
        assert_eq!(
            both.entries.len(),
            2,
            "{backend:?}: Slack and one agent row"
        );
        assert!(both.block.unwrap().contains("fleet_agent (deal-enricher)"));

        let forgotten = memory
            .forget_context(ORG, USER, EntityType::Deal, DEAL)
            .await
            .unwrap();
        assert_eq!(forgotten.removed, 2, "{backend:?}");
        let after = memory
            .context_for_user(ORG, USER, "Acme Renewal", None)
            .await
            .unwrap();
        assert!(after.entries.is_empty(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_quiet_thread_is_extracted_by_the_sweep() {
    on_each_backend(|backend, keel| async move {
        let quiet = ThreadOptions {
            quiet_ms: 1,
            ..ThreadOptions::default()
        };
        let store = ThreadStore::open(&keel, quiet).unwrap();
        let thread = store
            .get_or_create(&key("1733220000.000300", USER))
            .await
            .unwrap();
        let two = [
            message(1, Role::User, "Globex?"),
            message(2, Role::Assistant, "Demo Tuesday."),
        ];
        assert!(
            !store
                .add_messages(ORG, thread.id, &two)
                .await
                .unwrap()
                .extraction_due
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let model = Scripted::default();
        *model.answer.lock().unwrap() = Some("{\"summary\": \"Globex demo Tuesday.\"}".into());
        let sweep = store
            .sweep(&SweepOptions::default(), &model, None)
            .await
            .unwrap();
        assert_eq!(sweep.extracted, 1, "{backend:?}: {sweep:?}");
        assert_eq!(
            store.get(ORG, thread.id).await.unwrap().extracted_through,
            2
        );
    })
    .await;
}

/// A thread read from the loopback's Slack through a 429 storm (each page refused once,
/// with `Retry-After`), ingested: every message stored, each once.
#[tokio::test]
async fn a_429_storm_while_reading_a_thread_loses_no_message() {
    use common::loopback::slack::{THREAD_MESSAGES, THREAD_TS};
    use common::loopback::{Loopback, Scripted as Reply};
    use keel::channels::slack::{SlackClient, SlackOptions};
    let loopback = Loopback::start().await.unwrap();
    let storm = |_| Reply::Error {
        error: 429,
        message: "ratelimited".into(),
        retry_after: Some("1".into()),
    };
    loopback.script("conversations.replies", (0..2).map(storm));
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let options = SlackOptions {
        token: "xoxb-test".into(),
        base_url: format!("{}/api", loopback.base_url),
        workspace: "T1".into(),
        ..SlackOptions::default()
    };
    let slack = SlackClient::with_limiter(
        &keel,
        options,
        std::sync::Arc::new(keel::flow::LocalLimiter::default()),
    )
    .unwrap();
    let all = slack.replies("C1", THREAD_TS, |_| {}).await.unwrap();
    let store = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
    let thread = store.get_or_create(&key(THREAD_TS, USER)).await.unwrap();
    let done = store
        .ingest(ORG, thread.id, &serde_json::Value::Array(all), Some("UBOT"))
        .await
        .unwrap();
    assert_eq!(done.added as usize, THREAD_MESSAGES);
    assert_eq!(done.message_count as usize, THREAD_MESSAGES);
    assert!(done.extraction_due, "450 messages since the watermark");
    keel.close().await;
}

#[tokio::test]
async fn bad_input_is_a_typed_error_naming_its_field() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let store = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
    let field = |e: Error| (e.code(), e.field().unwrap_or("").to_owned());
    let bad = store
        .get_or_create(&key("yesterday", USER))
        .await
        .unwrap_err();
    assert_eq!(field(bad), ("invalid_input", "slack_thread_ts".into()));
    let thread = store
        .get_or_create(&key("1733220000.000400", USER))
        .await
        .unwrap();
    let mut m = message(1, Role::User, "hi");
    m.slack_ts = "1".into();
    let bad = store.add_messages(ORG, thread.id, &[m]).await.unwrap_err();
    assert_eq!(field(bad), ("invalid_input", "messages[0].slack_ts".into()));
    let system = message(1, Role::System, "you are");
    let bad = store
        .add_messages(ORG, thread.id, &[system])
        .await
        .unwrap_err();
    assert_eq!(field(bad), ("invalid_input", "messages[0].role".into()));
    let bad = store
        .add_messages(ORG, Uuid::new_v4(), &[message(1, Role::User, "x")])
        .await;
    assert_eq!(
        field(bad.unwrap_err()),
        ("invalid_input", "thread_id".into())
    );
    let other_org = store.add_messages(Uuid::new_v4(), thread.id, &[]).await;
    assert_eq!(
        field(other_org.unwrap_err()),
        ("invalid_input", "thread_id".into())
    );
    let negative = ThreadTurn {
        credits: -1.0,
        ..ThreadTurn::default()
    };
    let bad = store
        .record_turn(ORG, thread.id, &negative)
        .await
        .unwrap_err();
    assert_eq!(field(bad), ("invalid_input", "credits".into()));
    let huge = json!({"ok": true, "messages": [
        {"type": "message", "user": "U1", "ts": "1733220000.000500",
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(10_000_000)}}]}
    ]});
    let report = store.ingest(ORG, thread.id, &huge, None).await;
    match report {
        Ok(r) => assert_eq!(r.added + r.skipped.len() as u64, 1),
        Err(e) => assert_eq!(e.code(), "invalid_input"),
    }
    let bad = ThreadStore::open(
        &keel,
        ThreadOptions {
            extract_after_messages: 0,
            ..ThreadOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        field(bad),
        ("invalid_input", "extract_after_messages".into())
    );
    keel.close().await;
}
