//! Text with NUL characters on both backends. PostgreSQL's `text` and `jsonb` cannot hold
//! U+0000 where SQLite can: prose (messages, titles, summaries, descriptions, JSON values) is
//! stored with each NUL as U+FFFD on both, and ids and keys, which are matched exactly, are
//! refused with `invalid_input` naming the field.

mod common;

use common::on_each_backend;
use keel::Error;
use serde_json::json;

/// A model router on `keel` whose `org` holds 10 credits.
async fn funded(keel: &keel::Keel, org: uuid::Uuid) -> keel::models::ModelRouter {
    let options = keel::models::RouterOptions::default();
    let router = keel::models::ModelRouter::open(keel, options)
        .await
        .unwrap();
    router
        .grant_credits(org, 10.0, "purchase", None)
        .await
        .unwrap();
    router
}

/// The field an `invalid_input` error names, or a panic naming what came back instead.
fn refused<T: std::fmt::Debug>(result: keel::Result<T>) -> String {
    match result {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("not invalid_input: {other:?}"),
    }
}

/// User text with NUL characters (PostgreSQL's `jsonb` and `text` reject them) is stored the
/// same on both backends, each NUL as U+FFFD: a message's parts and tool-call arguments, a
/// queue item's title and context and its completion's context, a dead letter's payload and
/// failure, a run's output.
#[tokio::test]
async fn text_with_nul_is_stored_alike_on_both_backends() {
    use keel::flow::{NewItem, Queue, QueueOptions};
    use keel::memory::{ConversationChannel, ConversationStore, MessageQuery};
    use keel::runner::{DeadLetters, NewDeadLetter};
    use serde_json::json;

    on_each_backend(|backend, keel| async move {
        let org = uuid::Uuid::new_v4();
        let store = ConversationStore::open(&keel);
        let key = common::memory::key(org, ConversationChannel::Web, None);
        let c = store.start(&key).await.unwrap();
        let messages = serde_json::from_value::<Vec<keel::llm::Message>>(json!([
            {"role": "user", "content": "binary \u{0}paste"},
            {"role": "assistant", "content": [{"type": "tool_call", "id": "call-1",
              "name": "crm_lookup", "arguments": {"deal\u{0}": "Ac\u{0}me"}}]},
        ]))
        .unwrap();
        store.append(org, c.id, &messages).await.unwrap();
        let stored = store
            .messages(org, c.id, &MessageQuery { after_seq: 0, limit: 10 })
            .await
            .unwrap();
        let text = serde_json::to_string(&stored.iter().map(|m| &m.content).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains("\\u0000"), "{backend:?}: {text}");
        assert!(text.contains("binary \u{FFFD}paste") && text.contains("Ac\u{FFFD}me"), "{text}");
        assert!(text.contains("deal\u{FFFD}"), "keys too: {text}");

        let queue = Queue::open(&keel, QueueOptions::default()).unwrap();
        let item = NewItem {
            org_id: org.to_string(),
            source_agent: "deal-risk".into(),
            item_type: "deal_risk".into(),
            title: "Acme\u{0}renewal".into(),
            context: json!({"note": "a\u{0}b"}).as_object().unwrap().clone(),
            ..NewItem::default()
        };
        let ids = queue.enqueue(&[item]).await.unwrap();
        let got = queue.get(ids[0]).await.unwrap().unwrap();
        assert_eq!(got.title, "Acme\u{FFFD}renewal", "{backend:?}");
        assert_eq!(got.context["note"], "a\u{FFFD}b");
        let claimed = queue.claim("worker-1", 1, None).await.unwrap();
        let done = json!({"summary": "x\u{0}y"});
        assert!(queue.complete(claimed[0].id, claimed[0].lease_token, Some(&done)).await.unwrap());
        let got = queue.get(ids[0]).await.unwrap().unwrap();
        assert_eq!(got.enrichment_context, Some(json!({"summary": "x\u{FFFD}y"})), "{backend:?}");

        let letters = DeadLetters::open(&keel);
        let letter: NewDeadLetter = serde_json::from_value(json!({
            "agent_name": "importer",
            "payload": {"row": "x\u{0}y"},
            "errors": [{"at": "2026-12-06T08:00:00Z", "kind": "transient", "message": "bad \u{0}byte"}],
        }))
        .unwrap();
        let stored = letters.enqueue(&letter, 0).await.unwrap();
        assert_eq!(stored.payload["row"], "x\u{FFFD}y", "{backend:?}");
        assert_eq!(stored.failure_reason, "bad \u{FFFD}byte");

        // A run's output is kept when it has an idempotency key (a repeat answers with it).
        let config = keel::runner::AgentConfig {
            idempotency_key: Some(format!("export-{org}")),
            ..keel::runner::AgentConfig::new("exporter")
        };
        let run = keel
            .run_agent(config, |_ctx| async {
                Ok::<_, keel::runner::Failure>(json!({"row": "x\u{0}y"}))
            })
            .await
            .unwrap();
        let runs = keel::runner::Runs::open(&keel);
        runs.flush().await;
        let row = runs.get(run.execution_id).await.unwrap();
        assert_eq!(row.output.unwrap()["row"], "x\u{FFFD}y", "{backend:?}");
    })
    .await;
}

/// More prose on both backends: a conversation's and a Slack thread's title, a fact's subject,
/// content and names, a Slack message's text and metadata, a turn's action, an org's skill
/// context, a fleet agent's description and a ledger row's description.
#[tokio::test]
async fn more_prose_with_nul_is_stored_alike_on_both_backends() {
    use keel::channels::threads::{
        ThreadKey, ThreadMessage, ThreadOptions, ThreadStore, ThreadTurn,
    };
    use keel::memory::{
        ConversationChannel, ConversationKey, ConversationStore, FactQuery, NewFact,
    };
    use keel::models::Charge;
    use keel::skills::{RegistryOptions, SkillRegistry};
    use keel::telemetry::health::{AgentSpec, Fleet, FleetOptions};

    on_each_backend(|backend, keel| async move {
        let org = uuid::Uuid::new_v4();
        let store = ConversationStore::open(&keel);
        let key = ConversationKey {
            title: Some("Acme\u{0}QBR".into()),
            ..common::memory::key(org, ConversationChannel::Web, None)
        };
        let c = store.start(&key).await.unwrap();
        assert_eq!(c.title.as_deref(), Some("Acme\u{FFFD}QBR"), "{backend:?}");

        let fact: NewFact = serde_json::from_value(json!({
            "category": "deal", "subject": "Ac\u{0}me", "content": "\u{0}",
            "deal_name": "Acme\u{0}renewal",
        }))
        .unwrap();
        let facts = store
            .add_facts(org, "rep-7", &[fact], None, None)
            .await
            .unwrap();
        assert_eq!(
            (facts[0].subject.as_str(), facts[0].content.as_str()),
            ("Ac\u{FFFD}me", "\u{FFFD}"),
            "{backend:?}: a lone NUL is one character on SQLite's length() too"
        );
        assert_eq!(facts[0].deal_name.as_deref(), Some("Acme\u{FFFD}renewal"));
        let listed = store
            .facts(org, "rep-7", &FactQuery::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);

        let threads = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
        let thread = threads
            .get_or_create(&ThreadKey {
                org_id: org,
                user_id: uuid::Uuid::new_v4(),
                slack_team_id: "T1".into(),
                slack_channel_id: "C1".into(),
                slack_thread_ts: "1733220000.000100".into(),
                title: Some("pipeline\u{0}review".into()),
            })
            .await
            .unwrap();
        assert_eq!(
            thread.title.as_deref(),
            Some("pipeline\u{FFFD}review"),
            "{backend:?}"
        );
        let message = ThreadMessage {
            slack_ts: "1733220000.000200".into(),
            role: keel::llm::Role::User,
            text: "paste \u{0}here".into(),
            slack_user: Some("U1".into()),
            intent: None,
            metadata: Some(json!({"client\u{0}": "x\u{0}y"})),
        };
        threads
            .add_messages(org, thread.id, &[message])
            .await
            .unwrap();
        let turn = ThreadTurn {
            action: Some(json!({"sent": "a\u{0}b"})),
            ..ThreadTurn::default()
        };
        let after = threads.record_turn(org, thread.id, &turn).await.unwrap();
        assert_eq!(
            after.actions_taken,
            vec![json!({"sent": "a\u{FFFD}b"})],
            "{backend:?}"
        );
        let stored = store
            .messages(
                org,
                thread.conversation_id,
                &keel::memory::MessageQuery {
                    after_seq: 0,
                    limit: 10,
                },
            )
            .await
            .unwrap();
        let text = serde_json::to_string(&stored[0].content).unwrap();
        assert!(text.contains("paste \u{FFFD}here"), "{backend:?}: {text}");

        let skills = SkillRegistry::open(&keel, RegistryOptions::default())
            .await
            .unwrap();
        skills
            .set_org_context(org, json!({"company_name": "Ac\u{0}me"}))
            .await
            .unwrap();
        assert_eq!(
            skills.org_context(org).await.unwrap(),
            json!({"company_name": "Ac\u{FFFD}me"})
        );

        let fleet = Fleet::open(&keel, FleetOptions::default(), None).unwrap();
        let agent = fleet
            .set_agent(&AgentSpec {
                agent_name: "deal-risk".into(),
                cadence_ms: Some(60_000),
                description: Some("scores \u{0}deals".into()),
                ..AgentSpec::default()
            })
            .await
            .unwrap();
        assert_eq!(agent.description, "scores \u{FFFD}deals", "{backend:?}");

        let router = funded(&keel, org).await;
        let charge = Charge {
            org_id: org,
            amount: 1.0,
            description: Some("call \u{0}1".into()),
            ..Charge::default()
        };
        router.deduct(&charge).await.unwrap();
    })
    .await;
}

/// Ids and keys with a NUL are refused on both backends, naming the field, before anything is
/// written or read: a conversation's user and channel reference, a fact's user and deal id, a
/// Slack channel id, a message's Slack user and intent, a dead letter's org and idempotency
/// key, the letters' agent filter, a fleet agent's model and the alerts' agent filter, a
/// charge's key and feature, a model row's id. An idempotency key over 255 characters is
/// refused too (a charge's, a reservation's, a fact batch's, a compaction's: PostgreSQL's
/// index entries cannot hold a long one).
#[tokio::test]
async fn ids_with_nul_are_refused_on_both_backends() {
    use keel::channels::threads::{ThreadKey, ThreadMessage, ThreadOptions, ThreadStore};
    use keel::memory::{ConversationChannel, ConversationKey, ConversationStore, NewFact};
    use keel::models::{Charge, Feature, ModelEntry, Pricing, Role, Scope, Tier};
    use keel::runner::{DeadLetters, LetterQuery, NewDeadLetter};
    use keel::telemetry::health::{AgentSpec, Fleet, FleetOptions};

    on_each_backend(|backend, keel| async move {
        let org = uuid::Uuid::new_v4();
        let store = ConversationStore::open(&keel);
        let key = |user: &str, channel_ref: Option<&str>| ConversationKey {
            org_id: org,
            user_id: user.into(),
            channel: ConversationChannel::Slack,
            channel_ref: channel_ref.map(str::to_owned),
            title: None,
        };
        assert_eq!(
            refused(store.start(&key("rep\u{0}7", None)).await),
            "user_id",
            "{backend:?}"
        );
        assert_eq!(
            refused(store.start(&key("rep-7", Some("T1/C1\u{0}"))).await),
            "channel_ref"
        );
        let fact = |deal_id: &str| -> NewFact {
            serde_json::from_value(json!({"category": "deal", "subject": "Acme",
                                          "content": "renews in May", "deal_id": deal_id}))
            .unwrap()
        };
        assert_eq!(
            refused(
                store
                    .add_facts(org, "u\u{0}", &[fact("d1")], None, None)
                    .await
            ),
            "user_id"
        );
        assert_eq!(
            refused(
                store
                    .add_facts(org, "u1", &[fact("d\u{0}1")], None, None)
                    .await
            ),
            "facts[0].deal_id"
        );
        let long = "k".repeat(256);
        let added = store
            .add_facts(org, "u1", &[fact("d1")], Some(&long), None)
            .await;
        assert_eq!(refused(added), "idempotency_key", "{backend:?}");
        let c = store.start(&key("rep-7", None)).await.unwrap();
        let options = keel::memory::CompactOptions {
            idempotency_key: Some(long),
            ..keel::memory::CompactOptions::default()
        };
        assert_eq!(
            refused(store.compact(org, c.id, &options, None).await),
            "idempotency_key"
        );

        let threads = ThreadStore::open(&keel, ThreadOptions::default()).unwrap();
        let thread_key = |channel: &str| ThreadKey {
            org_id: org,
            user_id: uuid::Uuid::new_v4(),
            slack_team_id: "T1".into(),
            slack_channel_id: channel.into(),
            slack_thread_ts: "1733220000.000100".into(),
            title: None,
        };
        assert_eq!(
            refused(threads.get_or_create(&thread_key("C\u{0}1")).await),
            "slack_channel_id"
        );
        let thread = threads.get_or_create(&thread_key("C1")).await.unwrap();
        let message = |user: Option<&str>, intent: Option<&str>| ThreadMessage {
            slack_ts: "1733220000.000200".into(),
            role: keel::llm::Role::User,
            text: "hi".into(),
            slack_user: user.map(str::to_owned),
            intent: intent.map(str::to_owned),
            metadata: None,
        };
        let sent = threads
            .add_messages(org, thread.id, &[message(Some("U\u{0}1"), None)])
            .await;
        assert_eq!(refused(sent), "messages[0].slack_user");
        let sent = threads
            .add_messages(org, thread.id, &[message(None, Some("help\u{0}"))])
            .await;
        assert_eq!(refused(sent), "messages[0].intent");

        let letters = DeadLetters::open(&keel);
        let letter = |field: &str| -> NewDeadLetter {
            let mut letter = json!({"agent_name": "importer",
                                    "errors": [{"kind": "transient", "message": "boom"}]});
            letter[field] = json!("x\u{0}y");
            serde_json::from_value(letter).unwrap()
        };
        for field in ["org_id", "idempotency_key", "agent_name", "trigger_type"] {
            assert_eq!(
                refused(letters.enqueue(&letter(field), 0).await),
                field,
                "{backend:?}"
            );
        }
        let query = LetterQuery {
            agent_name: Some("imp\u{0}".into()),
            ..LetterQuery::default()
        };
        assert_eq!(refused(letters.list(&query).await), "agent_name");

        let fleet = Fleet::open(&keel, FleetOptions::default(), None).unwrap();
        let spec = AgentSpec {
            agent_name: "deal-risk".into(),
            cadence_ms: Some(60_000),
            models: Some(vec!["anthropic/claude\u{0}".into()]),
            ..AgentSpec::default()
        };
        assert_eq!(refused(fleet.set_agent(&spec).await), "models[0]");
        assert_eq!(
            refused(fleet.alerts(Some("deal\u{0}risk"), 10).await),
            "agent_name"
        );

        let router = funded(&keel, org).await;
        let charge = |key: String, feature: Option<&str>| Charge {
            org_id: org,
            amount: 1.0,
            idempotency_key: Some(key),
            feature_key: feature.map(str::to_owned),
            ..Charge::default()
        };
        assert_eq!(
            refused(router.deduct(&charge("k\u{0}".into(), None)).await),
            "idempotency_key"
        );
        assert_eq!(
            refused(router.deduct(&charge("k".repeat(256), None)).await),
            "idempotency_key"
        );
        assert_eq!(
            refused(
                router
                    .deduct(&charge("k1".into(), Some("copilot\u{0}")))
                    .await
            ),
            "feature"
        );
        router.deduct(&charge("k".repeat(255), None)).await.unwrap();
        let reserved = router.reserve(org, 1.0, &"r".repeat(256)).await;
        assert_eq!(refused(reserved), "idempotency_key");
        let row = ModelEntry {
            scope: Scope::Org(org),
            feature: Feature::Copilot,
            tier: Tier::Medium,
            provider: "anthropic".into(),
            model_id: "claude\u{0}".into(),
            role: Role::Primary,
            context_window: 200_000,
            max_tokens: 8192,
            pricing: Pricing {
                per_request: 1.0,
                input_per_mtok: None,
                output_per_mtok: None,
            },
        };
        assert_eq!(refused(router.set_model(row).await), "model_id");
    })
    .await;
}
