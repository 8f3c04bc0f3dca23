//! Compaction on both backends: a 300-message conversation with tool calls compacted under a
//! small threshold, a summarizer that fails or times out, and two OS processes compacting the
//! same conversation at once making one compaction.

mod common;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;
use uuid::Uuid;

use common::{fresh_url, on_each_backend};
use keel::llm::{Message, Part, Role, Summarizer, Summary, SummaryRequest};
use keel::memory::{
    CompactOptions, CompactionMethod, ConversationChannel, ConversationStore, MessageQuery,
    PlanOptions,
};
use keel::store::Backend;
use keel::{Error, Keel, Result};

/// A summarizer standing in for a model: after `delay`, the headings and how many turns it
/// read, or an error.
struct Headings {
    delay: Duration,
    fail: bool,
}

impl Summarizer for Headings {
    fn summarize<'a>(&'a self, request: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            if self.fail {
                return Err(Error::Internal("the model is down".into()));
            }
            let turns = request.text.matches("\n\n[").count() + 1;
            Ok(Summary {
                text: format!("**Decisions & Conclusions**\n- {turns} turns read"),
                completion: None,
            })
        })
    }
}

/// `turns` rounds of a question, a CRM lookup and its 800-byte result.
fn rounds(from: usize, turns: usize) -> Vec<Message> {
    let mut out = Vec::new();
    for i in from..from + turns {
        out.push(Message::user(format!(
            "What changed on the Acme deal, round {i}?"
        )));
        out.push(
            serde_json::from_value(json!({"role": "assistant", "content": [
                {"type": "tool_call", "id": format!("call-{i}"), "name": "crm_search",
                 "arguments": {"deal": "Acme", "round": i}}]}))
            .unwrap(),
        );
        out.push(
            serde_json::from_value(json!({"role": "tool", "content": [
                {"type": "tool_result", "call_id": format!("call-{i}"), "name": "crm_search",
                 "content": "r".repeat(800)}]}))
            .unwrap(),
        );
    }
    out
}

fn small_model() -> CompactOptions {
    CompactOptions {
        plan: PlanOptions {
            threshold: 4_000,
            recent_tokens: 1_000,
            min_recent: 10,
            tool_result_tokens: 500,
            summary_input_tokens: 2_000,
            summary_tokens: 300,
        },
        ..CompactOptions::default()
    }
}

/// A conversation of a system prompt and 100 rounds (301 messages).
async fn long_conversation(store: &ConversationStore, org: Uuid) -> Uuid {
    let c = store
        .start(&common::memory::key(org, ConversationChannel::Web, None))
        .await
        .unwrap();
    let system = Message {
        role: Role::System,
        content: vec![Part::text("You are the sales copilot.")],
    };
    store.append(org, c.id, &[system]).await.unwrap();
    for block in 0..10 {
        store
            .append(org, c.id, &rounds(block * 10, 10))
            .await
            .unwrap();
    }
    c.id
}

/// Every tool result in `messages` follows its call.
fn calls_precede_results(messages: &[Message]) -> bool {
    let mut called = std::collections::HashSet::new();
    messages.iter().flat_map(|m| &m.content).all(|p| match p {
        Part::ToolCall { id, .. } => {
            called.insert(id.clone());
            true
        }
        Part::ToolResult { call_id, .. } => called.contains(call_id),
        _ => true,
    })
}

#[tokio::test]
async fn a_long_conversation_with_tool_calls_compacts_under_the_threshold() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let id = long_conversation(&store, org).await;
        let before = store.get(org, id).await.unwrap();
        assert_eq!(before.message_count, 301);
        let options = small_model();
        let summarizer = Headings {
            delay: Duration::ZERO,
            fail: false,
        };

        // Over the threshold, the context read trims on the way out and says so.
        let window = store.context(org, id, 4_000).await.unwrap();
        assert!(
            window.trimmed && window.tokens <= 4_000,
            "{backend:?} {}",
            window.tokens
        );
        assert!(calls_precede_results(&window.messages));

        let done = store
            .compact(org, id, &options, Some(&summarizer))
            .await
            .unwrap();
        assert!(done.applied, "{backend:?}");
        let compaction = done.compaction.unwrap();
        assert_eq!(
            (compaction.number, compaction.method),
            (1, CompactionMethod::Summary)
        );
        assert_eq!(compaction.tokens_before, before.total_tokens);
        assert!(
            compaction.tokens_after <= 4_000,
            "{}",
            compaction.tokens_after
        );
        // Old results were masked first; the summary covers the middle and the oldest turns
        // wait for fact extraction; the current request (the last user turn) is kept.
        assert!(compaction.masked.len() > 50);
        let [from, through] = compaction.summarized.unwrap();
        assert_eq!(compaction.covered_through, through);
        assert_eq!(compaction.facts.unwrap(), [2, from - 1]);
        assert!(through < 299, "the last question (seq 299) is kept");
        assert!(compaction.summary.unwrap().contains("turns read"));

        // The transcript is untouched; the view is what is sent.
        let after = store.get(org, id).await.unwrap();
        assert_eq!(
            (after.message_count, after.total_tokens),
            (301, before.total_tokens)
        );
        let all = store
            .messages(
                org,
                id,
                &MessageQuery {
                    after_seq: 0,
                    limit: 1_000,
                },
            )
            .await
            .unwrap();
        assert!(all.iter().all(|m| !m.content.iter().any(|p| matches!(p,
            Part::ToolResult { content, .. } if content.starts_with("[tool result masked")))));
        let window = store.context(org, id, 4_000).await.unwrap();
        assert!(!window.trimmed);
        assert_eq!(window.tokens, compaction.tokens_after);
        assert_eq!(window.messages[0].text(), "You are the sales copilot.");
        assert!(
            window.messages[1]
                .text()
                .starts_with("Summary of the earlier conversation")
        );
        assert!(calls_precede_results(&window.messages));

        // Again: nothing to do. The same key again: the same compaction.
        let again = store
            .compact(org, id, &options, Some(&summarizer))
            .await
            .unwrap();
        assert!(!again.applied && again.compaction.is_none());
        let keyed = CompactOptions {
            idempotency_key: Some(compaction.idempotency_key.clone()),
            ..small_model()
        };
        let same = store
            .compact(org, id, &keyed, Some(&summarizer))
            .await
            .unwrap();
        assert_eq!((same.applied, same.compaction.unwrap().number), (false, 1));

        // More turns: the next compaction folds the first summary in and keeps the masks.
        store.append(org, id, &rounds(100, 20)).await.unwrap();
        let next = store
            .compact(org, id, &options, Some(&summarizer))
            .await
            .unwrap();
        let next = next.compaction.unwrap();
        assert_eq!(next.number, 2);
        assert!(compaction.masked.iter().all(|s| next.masked.contains(s)));
        assert!(next.tokens_after <= 4_000);
    })
    .await;
}

#[tokio::test]
async fn a_failing_or_slow_summarizer_trims_under_the_threshold_and_says_so() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        for (summarizer, reason) in [
            (
                Some(Headings {
                    delay: Duration::from_secs(5),
                    fail: false,
                }),
                "took more than 200 ms",
            ),
            (
                Some(Headings {
                    delay: Duration::ZERO,
                    fail: true,
                }),
                "the model is down",
            ),
            (None, "no summarizer"),
        ] {
            let org = Uuid::new_v4();
            let id = long_conversation(&store, org).await;
            let options = CompactOptions {
                summary_timeout: Duration::from_millis(200),
                ..small_model()
            };
            let summarizer = summarizer.as_ref().map(|s| s as &dyn Summarizer);
            let done = store.compact(org, id, &options, summarizer).await.unwrap();
            let compaction = done.compaction.unwrap();
            assert_eq!(compaction.method, CompactionMethod::Trim, "{backend:?}");
            assert!(
                compaction.note.as_deref().unwrap().contains(reason),
                "{:?}",
                compaction.note
            );
            assert!(compaction.tokens_after <= 4_000);
            let window = store.context(org, id, 4_000).await.unwrap();
            assert!(!window.trimmed && window.tokens <= 4_000);
            assert!(
                window.messages[1]
                    .text()
                    .contains("were trimmed without a summary")
            );
        }
    })
    .await;
}

#[tokio::test]
async fn bad_input_names_its_field() {
    on_each_backend(|_backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let id = long_conversation(&store, org).await;
        let err = store
            .compact(Uuid::new_v4(), id, &small_model(), None)
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("conversation_id"))
        );
        let mut zero = small_model();
        zero.plan.threshold = 0;
        let err = store.compact(org, id, &zero, None).await.unwrap_err();
        assert_eq!(err.field(), Some("threshold"));
        let err = store.context(org, id, 0).await.unwrap_err();
        assert_eq!(err.field(), Some("threshold"));
        let err = store.context(org, Uuid::new_v4(), 4_000).await.unwrap_err();
        assert_eq!(err.field(), Some("conversation_id"));
        // A model's threshold from the matrix: a dated id finds its row; an unknown one is refused.
        let router = keel::models::ModelRouter::open(&keel, Default::default())
            .await
            .unwrap();
        let window = store
            .context_for(org, id, &router, "claude-haiku-4-5-20251001")
            .await
            .unwrap();
        assert_eq!((window.threshold, window.trimmed), (137_712, false));
        let err = store
            .context_for(org, id, &router, "gpt-9")
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("model"));
    })
    .await;
}

/// The child side of [`two_processes_compacting_at_once_make_one_compaction`].
async fn compact_as_child(url: &str) {
    let org: Uuid = std::env::var("KEEL_CHILD_ORG").unwrap().parse().unwrap();
    let id: Uuid = std::env::var("KEEL_CHILD_CONVERSATION")
        .unwrap()
        .parse()
        .unwrap();
    let keel = Keel::connect(url).await.unwrap();
    let store = ConversationStore::open(&keel);
    common::wait_for_start().await;
    // Slow enough that both read the same state before either writes.
    let summarizer = Headings {
        delay: Duration::from_millis(300),
        fail: false,
    };
    let done = store
        .compact(org, id, &small_model(), Some(&summarizer))
        .await
        .unwrap();
    let number = done.compaction.unwrap().number;
    println!("KEEL_CHILD applied={} number={number}", done.applied);
    keel.close().await;
}

/// Two OS processes compact the same conversation at once: one compaction is stored, one
/// process applied it and the other returns it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_compacting_at_once_make_one_compaction() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        return compact_as_child(&url).await;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let id = long_conversation(&store, org).await;
        let mut reports = common::run_children(
            "two_processes_compacting_at_once_make_one_compaction",
            2,
            &[
                ("KEEL_CHILD_URL", url.clone()),
                ("KEEL_CHILD_ORG", org.to_string()),
                ("KEEL_CHILD_CONVERSATION", id.to_string()),
            ],
        );
        reports.sort();
        assert_eq!(
            reports,
            vec!["applied=false number=1", "applied=true number=1"],
            "{backend:?}"
        );
        // Nothing left to do: the one compaction holds.
        let again = store.compact(org, id, &small_model(), None).await.unwrap();
        assert!(again.compaction.is_none(), "{backend:?}");
        keel.close().await;
    }
}

/// A summarizer answering with a NUL (a model or a host summarizer can): the compaction it
/// returns holds what is stored and sent on both backends, U+FFFD.
#[tokio::test]
async fn a_summary_with_nul_is_returned_as_stored() {
    struct WithNul;
    impl Summarizer for WithNul {
        fn summarize<'a>(&'a self, _: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>> {
            Box::pin(async {
                Ok(Summary {
                    text: "turns\u{0}read".into(),
                    completion: None,
                })
            })
        }
    }
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let org = Uuid::new_v4();
        let id = long_conversation(&store, org).await;
        let done = store
            .compact(org, id, &small_model(), Some(&WithNul))
            .await
            .unwrap();
        let summary = done.compaction.unwrap().summary;
        assert_eq!(summary.as_deref(), Some("turns\u{FFFD}read"), "{backend:?}");
        let window = store.context(org, id, 4_000).await.unwrap();
        let sent = serde_json::to_string(&window.messages).unwrap();
        assert!(
            sent.contains("turns\u{FFFD}read"),
            "{backend:?}: {sent:.300}"
        );
    })
    .await;
}
