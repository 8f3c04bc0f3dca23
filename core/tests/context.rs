//! Cross-channel context on both backends: one row per key however many writers, another
//! org's key refused, the read path carrying a Slack thread into a web message, archiving
//! instead of deleting (and the pg_cron function on PostgreSQL).

mod common;

use uuid::Uuid;

use common::on_each_backend;
use keel::memory::{ContextEntry, ConversationChannel, ConversationStore, EntityType};
use keel::store::Backend;

fn entry(
    org: Uuid,
    user: Uuid,
    deal: Uuid,
    channel: ConversationChannel,
    summary: &str,
) -> ContextEntry {
    ContextEntry {
        org_id: org,
        user_id: user,
        channel,
        channel_ref: (channel == ConversationChannel::Slack).then(|| "1733220000.000100".into()),
        entity_type: EntityType::Deal,
        entity_id: deal,
        summary: summary.into(),
        entity_name: None,
        agent_name: None,
        last_updated: String::new(),
    }
}

async fn count(keel: &keel::Keel, user: Uuid) -> (i64, i64) {
    let sql = "SELECT count(*), count(archived_at) FROM conversation_context WHERE user_id = ";
    match keel.pool().unwrap() {
        keel::Pool::Postgres(p) => sqlx::query_as(&format!("{sql} $1::uuid"))
            .bind(user)
            .fetch_one(p)
            .await
            .unwrap(),
        keel::Pool::Sqlite(p) => sqlx::query_as(&format!("{sql} $1"))
            .bind(user.to_string())
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

/// Moves every row of `user` back `days` days (the test's clock).
async fn age(keel: &keel::Keel, user: Uuid, days: i64) {
    match keel.pool().unwrap() {
        keel::Pool::Postgres(p) => sqlx::query(
            "UPDATE keel.conversation_context SET last_updated = now() - make_interval(days => $2::int)
             WHERE user_id = $1::uuid",
        )
        .bind(user)
        .bind(days as i32)
        .execute(p)
        .await
        .unwrap()
        .rows_affected(),
        keel::Pool::Sqlite(p) => sqlx::query(
            "UPDATE conversation_context
             SET last_updated = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $2 || ' days')
             WHERE user_id = $1",
        )
        .bind(user.to_string())
        .bind(days)
        .execute(p)
        .await
        .unwrap()
        .rows_affected(),
    };
}

#[tokio::test]
async fn writers_share_one_row_per_key_and_another_org_is_refused() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let (org, user, deal) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        // Eight writers at once on each of a keyed (Slack) and an unkeyed (web) row.
        let mut tasks = Vec::new();
        for i in 0..8 {
            for channel in [ConversationChannel::Slack, ConversationChannel::Web] {
                let store = store.clone();
                let e = entry(
                    org,
                    user,
                    deal,
                    channel,
                    &format!("Acme: legal review, take {i}"),
                );
                tasks.push(tokio::spawn(async move { store.upsert_context(&e).await }));
            }
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(count(&keel, user).await, (2, 0), "{backend:?}");
        let err = store
            .upsert_context(&entry(
                Uuid::new_v4(),
                user,
                deal,
                ConversationChannel::Web,
                "x",
            ))
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.field()), ("invalid_input", Some("org_id")));
        let err = store
            .upsert_context(&entry(org, user, deal, ConversationChannel::Web, "  "))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("summary"));
    })
    .await;
}

#[tokio::test]
async fn a_slack_thread_carries_into_the_web_and_old_rows_are_archived() {
    on_each_backend(|backend, keel| async move {
        let store = ConversationStore::open(&keel);
        let (org, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (acme, globex) = (Uuid::new_v4(), Uuid::new_v4());
        store
            .upsert_context(&entry(
                org,
                user,
                acme,
                ConversationChannel::Slack,
                "Acme Corp renewal is in legal review; Dana wants the usage report by Friday.",
            ))
            .await
            .unwrap();
        store
            .upsert_context(&entry(
                org,
                user,
                globex,
                ConversationChannel::Agent,
                "Globex asked for a discount over 20 %.",
            ))
            .await
            .unwrap();
        let prior = store
            .prior_context(org, user, "How do I prep for the Acme Corp call?")
            .await
            .unwrap();
        assert_eq!(prior.terms, vec!["Acme Corp"]);
        // Acme: the term and under a day old; Globex: under a day old only.
        let chosen: Vec<(Uuid, u32)> = prior
            .entries
            .iter()
            .map(|e| (e.entry.entity_id, e.score))
            .collect();
        assert_eq!(chosen, vec![(acme, 5), (globex, 3)], "{backend:?}");
        let block = prior.block.unwrap();
        assert!(
            block.starts_with(
                "## Prior Conversation Context\n[Context from slack_copilot — deal — "
            )
        );
        assert!(block.contains("Dana wants the usage report"));
        // Another user of the org sees none of it.
        let other = store
            .prior_context(org, Uuid::new_v4(), "Acme Corp?")
            .await
            .unwrap();
        assert!(other.entries.is_empty() && other.block.is_none());

        // Twenty days later the rows are archived, not deleted, and no longer read.
        age(&keel, user, 20).await;
        assert_eq!(store.archive_context(14, 1).await.unwrap(), 2);
        assert_eq!(count(&keel, user).await, (2, 2));
        assert!(
            store
                .prior_context(org, user, "Acme Corp")
                .await
                .unwrap()
                .entries
                .is_empty()
        );
        // Written again, a row comes back.
        store
            .upsert_context(&entry(
                org,
                user,
                acme,
                ConversationChannel::Slack,
                "Acme Corp signed.",
            ))
            .await
            .unwrap();
        assert_eq!(count(&keel, user).await, (2, 1));
        assert_eq!(store.archive_context(14, 100).await.unwrap(), 0);
        assert_eq!(
            store.archive_context(0, 100).await.unwrap_err().field(),
            Some("max_age_days")
        );
        if backend == Backend::Postgres {
            age(&keel, user, 20).await;
            let keel::Pool::Postgres(p) = keel.pool().unwrap() else {
                unreachable!()
            };
            let archived: i64 = sqlx::query_scalar("SELECT keel.archive_conversation_context()")
                .fetch_one(p)
                .await
                .unwrap();
            assert!(archived >= 1);
            assert_eq!(count(&keel, user).await, (2, 2));
        }
    })
    .await;
}
