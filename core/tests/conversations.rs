//! The conversation store on both backends: opening, appending, reading, bad batches, and
//! concurrent appends from several OS processes leaving an exact running total.

mod common;

use serde_json::json;
use uuid::Uuid;

use common::memory::key;
use common::{fresh_url, on_each_backend};
use keel::Keel;
use keel::llm::Message;
use keel::memory::{
    CompactOptions, ConversationChannel, ConversationStore, MessageQuery, PlanOptions,
};
use keel::store::Backend;

fn batch(value: serde_json::Value) -> Vec<Message> {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn appends_count_tokens_in_the_database_and_read_back_in_order() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let thread = key(org, ConversationChannel::Slack, Some("1733220000.000100"));
        let c = store.start(&thread).await.unwrap();
        assert_eq!((c.message_count, c.total_tokens), (0, 0), "{backend:?}");
        assert_eq!(c.channel_ref.as_deref(), Some("1733220000.000100"));
        // Opening the same thread again finds it; a title given later is kept.
        let mut titled = thread.clone();
        titled.title = Some("Acme renewal".into());
        let again = store.start(&titled).await.unwrap();
        assert_eq!((again.id, again.title.as_deref()), (c.id, Some("Acme renewal")));
        assert_eq!(store.start(&thread).await.unwrap().title.as_deref(), Some("Acme renewal"));

        let first = store
            .append(
                org,
                c.id,
                &batch(json!([
                    {"role": "user", "content": "What is blocking the Acme renewal?"},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_call", "id": "call-1", "name": "crm_lookup",
                         "arguments": {"deal": "Acme"}}]},
                ])),
            )
            .await
            .unwrap();
        assert_eq!((first.first_seq, first.last_seq, first.message_count), (1, 2, 2));
        // "What is blocking the Acme renewal?" is 8 tokens of o200k_base (tiktoken's count),
        // "user" 1 and the framing 3.
        assert_eq!(first.tokens[0], 12);
        assert_eq!(first.total_tokens, first.tokens.iter().sum::<u64>());
        // The result answers the call appended before.
        let second = store
            .append(
                org,
                c.id,
                &batch(json!([{"role": "tool", "content": [
                    {"type": "tool_result", "call_id": "call-1", "content": "{\"stage\":\"legal\"}"}]}])),
            )
            .await
            .unwrap();
        assert_eq!((second.first_seq, second.message_count), (3, 3));
        assert_eq!(second.total_tokens, first.total_tokens + second.tokens[0]);

        let read = store.messages(org, c.id, &MessageQuery::default()).await.unwrap();
        assert_eq!(read.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(read[1].content.len(), 2);
        // Text is counted exactly; a tool call or result is an estimate.
        let exact: Vec<bool> = read.iter().map(|m| m.tokens_exact).collect();
        assert_eq!(exact, vec![true, false, false]);
        let page = MessageQuery { after_seq: 1, limit: 1 };
        let page = store.messages(org, c.id, &page).await.unwrap();
        assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2]);
        let stored = store.get(org, c.id).await.unwrap();
        assert_eq!((stored.message_count, stored.total_tokens), (3, second.total_tokens));

        // Another org sees nothing of it.
        let other = Uuid::new_v4();
        let err = store.get(other, c.id).await.unwrap_err();
        assert_eq!((err.code(), err.field()), ("invalid_input", Some("conversation_id")));
        let err = store.messages(other, c.id, &MessageQuery::default()).await.unwrap_err();
        assert_eq!(err.field(), Some("conversation_id"));
        let err = store
            .append(other, c.id, &batch(json!([{"role": "user", "content": "hi"}])))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("conversation_id"));
    })
    .await;
}

#[tokio::test]
async fn a_refused_batch_stores_nothing() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let c = store.start(&key(org, ConversationChannel::Web, None)).await.unwrap();
        for (messages, field) in [
            (json!([]), "messages"),
            (
                json!([{"role": "user", "content": "ok"},
                       {"role": "tool", "content": [{"type": "tool_result", "call_id": "nope", "content": "x"}]}]),
                "messages[1].content[0].call_id",
            ),
            (json!([{"role": "user", "content": []}]), "messages[0].content"),
        ] {
            let err = store.append(org, c.id, &batch(messages)).await.unwrap_err();
            assert_eq!((err.code(), err.field()), ("invalid_input", Some(field)), "{backend:?}");
        }
        let stored = store.get(org, c.id).await.unwrap();
        assert_eq!((stored.message_count, stored.total_tokens), (0, 0));
        assert!(store.messages(org, c.id, &MessageQuery::default()).await.unwrap().is_empty());
        let mut blank = key(org, ConversationChannel::Web, None);
        blank.user_id = " ".into();
        assert_eq!(store.start(&blank).await.unwrap_err().field(), Some("user_id"));
        let err = store
            .messages(org, c.id, &MessageQuery { after_seq: 0, limit: 0 })
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("limit"));
    })
    .await;
}

/// The child side of [`concurrent_appends_from_four_processes_leave_an_exact_total`]: 8
/// appends of one message from this process, all started at `KEEL_START_AT_MS`.
async fn append_as_child(url: &str) {
    let org: Uuid = std::env::var("KEEL_CHILD_ORG").unwrap().parse().unwrap();
    let conversation: Uuid = std::env::var("KEEL_CHILD_CONVERSATION")
        .unwrap()
        .parse()
        .unwrap();
    let me = std::env::var("KEEL_CHILD_INDEX").unwrap();
    let keel = Keel::connect(url).await.unwrap();
    let store = ConversationStore::open(&keel);
    common::wait_for_start().await;
    let tasks: Vec<_> = (0..8)
        .map(|j| {
            let store = store.clone();
            // Messages of different lengths: a lost update would show in the total.
            let text = format!("process {me} message {j} {}", "x".repeat(j * 7));
            tokio::spawn(async move {
                store
                    .append(org, conversation, &[Message::user(text)])
                    .await
            })
        })
        .collect();
    let mut tokens = 0u64;
    for task in tasks {
        tokens += task.await.unwrap().unwrap().tokens[0];
    }
    println!("KEEL_CHILD tokens={tokens}");
    keel.close().await;
}

/// 32 appends to one conversation from four OS processes (each its own pool): 32 messages with
/// seqs 1 to 32, and a running total equal to the sum of what each append counted. The test
/// runs itself as the children (`KEEL_CHILD_URL` set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_four_processes_leave_an_exact_total() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        return append_as_child(&url).await;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let c = store
            .start(&key(org, ConversationChannel::Agent, Some("run-1")))
            .await
            .unwrap();
        let reports = common::run_children(
            "concurrent_appends_from_four_processes_leave_an_exact_total",
            4,
            &[
                ("KEEL_CHILD_URL", url.clone()),
                ("KEEL_CHILD_ORG", org.to_string()),
                ("KEEL_CHILD_CONVERSATION", c.id.to_string()),
            ],
        );
        let counted: u64 = reports
            .iter()
            .map(|r| r.trim_start_matches("tokens=").parse::<u64>().unwrap())
            .sum();
        let stored = store.get(org, c.id).await.unwrap();
        assert_eq!(stored.message_count, 32, "{backend:?}");
        assert_eq!(stored.total_tokens, counted, "{backend:?}");
        let query = MessageQuery {
            after_seq: 0,
            limit: 100,
        };
        let messages = store.messages(org, c.id, &query).await.unwrap();
        assert_eq!(
            messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=32).collect::<Vec<_>>()
        );
        assert_eq!(messages.iter().map(|m| m.tokens).sum::<u64>(), counted);
        keel.close().await;
    }
}

/// As a Supabase client with one org's claims on PostgreSQL: that org's conversations and
/// messages only, and no writes.
#[tokio::test]
async fn rls_shows_each_org_its_own_conversations() {
    let keel = Keel::connect(&fresh_url(Backend::Postgres).await)
        .await
        .unwrap();
    let store = ConversationStore::open(&keel);
    let (mine, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    for org in [mine, theirs] {
        let c = store
            .start(&key(org, ConversationChannel::Web, None))
            .await
            .unwrap();
        let turns: Vec<Message> = (0..12)
            .map(|i| Message::user(format!("{i} {}", "x".repeat(400))))
            .collect();
        store.append(org, c.id, &turns).await.unwrap();
        let options = CompactOptions {
            plan: PlanOptions {
                threshold: 500,
                min_recent: 2,
                recent_tokens: 200,
                summary_tokens: 50,
                ..PlanOptions::default()
            },
            ..CompactOptions::default()
        };
        let done = store.compact(org, c.id, &options, None).await.unwrap();
        assert!(done.applied);
    }
    common::assert_org_member_sees_only_its_rows(
        &keel,
        mine,
        &[
            "keel.conversations",
            "keel.conversation_messages",
            "keel.conversation_compactions",
        ],
        "UPDATE keel.conversations SET total_tokens = 0",
    )
    .await;
    keel.close().await;
}
