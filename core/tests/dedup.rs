//! Deduplication on both backends: one key per org and user, the first writer the primary and
//! every later one merged into it (seeded, attributed, escalated once), near-duplicates by
//! MinHash, superseding, windows, the post-scoring approval, and concurrency: 100 identical
//! events at once, in one process and across four.

mod common;

use serde_json::{Value, json};
use uuid::Uuid;

use common::{fresh_url, on_each_backend};
use keel::Keel;
use keel::dedup::{Dedup, DedupOptions, Verdict};
use keel::flow::{ItemState, NewItem, Queue};
use keel::store::{Backend, Pool};

const ORG_A: &str = "00000000-0000-4000-8000-00000000000a";
const ORG_B: &str = "00000000-0000-4000-8000-00000000000b";
const USER: &str = "00000000-0000-4000-8000-0000000000a1";
const DEAL: &str = "00000000-0000-4000-8000-0000000000d1";

fn item(org: &str, agent: &str, title: &str, context: Value) -> NewItem {
    NewItem {
        org_id: org.into(),
        user_id: Some(USER.into()),
        source_agent: agent.into(),
        item_type: "deal_risk".into(),
        title: title.into(),
        deal_id: Some(DEAL.into()),
        context: context.as_object().unwrap().clone(),
        ..NewItem::default()
    }
}

fn open(keel: &Keel, options: DedupOptions) -> (Dedup, Queue) {
    (
        Dedup::open(keel, options).unwrap(),
        Queue::open(keel, Default::default()).unwrap(),
    )
}

async fn exec(keel: &Keel, pg: &str, lite: &str) {
    match keel.pool().unwrap() {
        Pool::Postgres(p) => sqlx::query(pg).execute(p).await.map(|_| ()).unwrap(),
        Pool::Sqlite(p) => sqlx::query(lite).execute(p).await.map(|_| ()).unwrap(),
    }
}

#[tokio::test]
async fn later_reports_merge_into_the_first_seeded_attributed_and_escalated_once() {
    on_each_backend(|backend, keel| async move {
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let ctx =
            |c: f64, e: &str| json!({"confidence": c, "evidence": [e], "action_type": "call"});
        let first = dedup
            .enqueue(
                &queue,
                &[item(
                    ORG_A,
                    "deal-risk",
                    "Acme renewal at risk",
                    ctx(0.5, "no reply"),
                )],
            )
            .await
            .unwrap();
        assert_eq!(first[0].verdict, Verdict::Primary, "{backend:?}");
        let primary = first[0].id;
        let later = dedup
            .enqueue(
                &queue,
                &[
                    item(
                        ORG_A,
                        "deal-risk",
                        "Acme renewal is at risk",
                        ctx(0.5, "no reply"),
                    ),
                    item(
                        ORG_A,
                        "email",
                        "Champion silent at Acme",
                        ctx(0.4, "bounce"),
                    ),
                    item(
                        ORG_A,
                        "calendar",
                        "Acme meeting cancelled",
                        ctx(0.2, "cancelled"),
                    ),
                    item(
                        ORG_A,
                        "slack",
                        "Acme mentioned churn",
                        json!({"action_type": "call"}),
                    ),
                ],
            )
            .await
            .unwrap();
        let verdicts: Vec<Verdict> = later.iter().map(|c| c.verdict).collect();
        assert_eq!(verdicts, [Verdict::Merged; 4], "{backend:?}");
        let escalated: Vec<bool> = later.iter().map(|c| c.escalated).collect();
        assert_eq!(
            escalated,
            [false, false, true, false],
            "once, at the third agent"
        );
        assert!(later.iter().all(|c| c.primary_id == Some(primary)));

        let group = dedup.group(primary).await.unwrap().unwrap();
        assert_eq!(
            group.contributing_agents,
            ["deal-risk", "email", "calendar", "slack"]
        );
        assert_eq!(
            group.merged_evidence.len(),
            3,
            "the repeated entry is kept once"
        );
        assert_eq!(
            group.merged_evidence[0],
            json!({"agent": "deal-risk", "evidence": "no reply"})
        );
        let expected = 1.0 - 0.5 * 0.5 * 0.6 * 0.8;
        assert!(
            (group.merged_confidence.unwrap() - expected).abs() < 1e-4,
            "{group:?}"
        );
        assert_eq!(group.queue_priority, 1, "escalated from 2 by one lane");
        let absorbed: Vec<String> = later.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(group.merged_from, absorbed);
        assert_eq!(group.members.len(), 5);
        assert!(group.members[0].is_primary && group.members[0].id == primary.to_string());
        assert!(
            group.members[1..]
                .iter()
                .all(|m| !m.is_primary && m.status == "auto_resolved")
        );
        // Checking again changes nothing.
        let again = dedup.check(later[0].id, None).await.unwrap();
        assert_eq!(
            (again.verdict, again.primary_id),
            (Verdict::Merged, Some(primary))
        );
        let counts = dedup.counts(ORG_A).await.unwrap();
        assert_eq!(
            (counts["primaries"], counts["suppressed"], counts["merged"]),
            (1, 4, 4)
        );
        assert_eq!(counts["escalated"], 1);
    })
    .await;
}

#[tokio::test]
async fn orgs_never_merge_and_a_done_primary_supersedes() {
    on_each_backend(|backend, keel| async move {
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let same = |org| item(org, "deal-risk", "Acme renewal at risk", json!({}));
        let got = dedup
            .enqueue(&queue, &[same(ORG_A), same(ORG_B)])
            .await
            .unwrap();
        assert_eq!(
            [got[0].verdict, got[1].verdict],
            [Verdict::Primary; 2],
            "{backend:?}"
        );
        assert_ne!(got[0].dedup_key, got[1].dedup_key);

        let id = got[0].id.to_string();
        exec(
            &keel,
            &format!("UPDATE keel.command_centre_items SET status = 'completed' WHERE id = '{id}'"),
            &format!("UPDATE command_centre_items SET status = 'completed' WHERE id = '{id}'"),
        )
        .await;
        let late = dedup.enqueue(&queue, &[same(ORG_A)]).await.unwrap();
        assert_eq!(late[0].verdict, Verdict::Superseded, "{backend:?}");
        let group = dedup.group(got[0].id).await.unwrap().unwrap();
        assert_eq!(
            group.contributing_agents,
            ["deal-risk"],
            "superseded adds no agent"
        );
        assert_eq!(
            group.members[1].resolution_channel.as_deref(),
            Some("dedup_superseded")
        );
        assert_eq!(dedup.counts(ORG_A).await.unwrap()["superseded"], 1);
        let again = dedup.check(late[0].id, None).await.unwrap();
        assert_eq!(
            again.verdict,
            Verdict::Superseded,
            "a re-check keeps it: {backend:?}"
        );
        assert_eq!(dedup.counts(ORG_A).await.unwrap()["superseded"], 1);
    })
    .await;
}

#[tokio::test]
async fn near_duplicates_merge_by_text_and_an_expired_window_starts_a_new_group() {
    on_each_backend(|backend, keel| async move {
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let text = "Acme renewal is at risk because Dana stopped replying after the pricing call \
                    and procurement asked for a discount before signing";
        let a = item(ORG_A, "deal-risk", text, json!({"action_type": "call"}));
        // Another action, so another key: only the text can match.
        let b = item(
            ORG_A,
            "email",
            &text.replace("pricing call", "pricing call."),
            json!({"action_type": "email"}),
        );
        let c = item(
            ORG_A,
            "email",
            "Globex asked for a demo of the reporting module",
            json!({}),
        );
        let got = dedup.enqueue(&queue, &[a, b, c]).await.unwrap();
        let verdicts: Vec<Verdict> = got.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            [Verdict::Primary, Verdict::NearMerged, Verdict::Primary],
            "{backend:?}"
        );
        assert!(got[1].jaccard.unwrap() > 0.9);
        assert_eq!(got[1].primary_id, Some(got[0].id));
        let again = dedup.check(got[1].id, None).await.unwrap();
        assert_eq!(
            (again.verdict, again.primary_id),
            (Verdict::NearMerged, Some(got[0].id)),
            "a re-check keeps it: {backend:?}"
        );

        let (short, queue) = open(
            &keel,
            DedupOptions {
                window_ms: 1,
                near_duplicates: false,
                ..Default::default()
            },
        );
        let fresh = |t: &str| item(ORG_B, "deal-risk", t, json!({}));
        let first = short.enqueue(&queue, &[fresh("one")]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let second = short.enqueue(&queue, &[fresh("two")]).await.unwrap();
        assert_eq!(
            second[0].verdict,
            Verdict::Primary,
            "the window closed: {backend:?}"
        );
        assert_eq!(first[0].dedup_key, second[0].dedup_key);
        assert!(!short.group(first[0].id).await.unwrap().unwrap().open);
    })
    .await;
}

#[tokio::test]
async fn scoring_members_approves_a_ready_primary_at_the_group_confidence() {
    on_each_backend(|backend, keel| async move {
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let got = dedup
            .enqueue(
                &queue,
                &[
                    item(ORG_A, "deal-risk", "Acme at risk", json!({})),
                    item(ORG_A, "email", "Acme at risk", json!({"confidence": 0.7})),
                ],
            )
            .await
            .unwrap();
        let primary = got[0].id;
        let id = primary.to_string();
        exec(
            &keel,
            &format!("UPDATE keel.command_centre_items SET status = 'ready' WHERE id = '{id}'"),
            &format!("UPDATE command_centre_items SET status = 'ready' WHERE id = '{id}'"),
        )
        .await;
        let low = dedup.score(primary, 0.55).await.unwrap();
        assert_eq!(
            (low.merged_confidence, low.approved),
            (None, false),
            "one qualifies: {backend:?}"
        );
        let high = dedup.score(primary, 0.8).await.unwrap();
        assert!(
            (high.merged_confidence.unwrap() - 0.94).abs() < 1e-9,
            "{high:?}"
        );
        assert!(high.approved);
        assert_eq!(
            dedup.group(primary).await.unwrap().unwrap().status,
            "approved"
        );
        assert!(
            !dedup.score(primary, 0.9).await.unwrap().approved,
            "approved once"
        );
        assert_eq!(dedup.counts(ORG_A).await.unwrap()["approved"], 1);

        let err = dedup.score(primary, f64::NAN).await.unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("confidence"))
        );
        let err = dedup.check(Uuid::now_v7(), None).await.unwrap_err();
        assert_eq!(err.field(), Some("id"));
        let bad = item(ORG_A, "x", "t", json!({"confidence": 1.5}));
        let err = dedup.enqueue(&queue, &[bad]).await.unwrap_err();
        assert_eq!(err.field(), Some("items[0].context.confidence"));
        let err = Dedup::open(
            &keel,
            DedupOptions {
                threshold: f64::NAN,
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(err.field(), Some("threshold"));
    })
    .await;
}

/// An item done before any check (enqueued on the queue alone, claimed and completed) is never
/// rewritten by a late check: it stays done and joins no group.
#[tokio::test]
async fn a_late_check_never_rewrites_a_finished_item() {
    on_each_backend(|backend, keel| async move {
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let same = || item(ORG_A, "deal-risk", "Acme renewal at risk", json!({}));
        let primary = dedup.enqueue(&queue, &[same()]).await.unwrap().remove(0);
        let plain = queue.enqueue(&[same()]).await.unwrap()[0];
        let claimed = queue.claim("w1", 10, None).await.unwrap();
        let held = claimed.iter().find(|i| i.id == plain).expect("claimable");
        assert!(queue.complete(plain, held.lease_token, None).await.unwrap());

        let late = dedup.check(plain, None).await.unwrap();
        assert_eq!(late.verdict, Verdict::InFlight, "{backend:?}");
        let stored = queue.get(plain).await.unwrap().unwrap();
        assert_eq!(stored.enrichment_status, ItemState::Enriched, "{backend:?}");
        let group = dedup.group(primary.id).await.unwrap().unwrap();
        assert!(group.merged_from.is_empty(), "{backend:?}: {group:?}");
    })
    .await;
}

/// `Dedup::enqueue` inserts and checks an item in one transaction: a worker claiming as fast as
/// it can while 100 duplicates arrive never gets one (each is absorbed before anyone sees it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_never_sees_an_item_before_its_check() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let keel = Keel::connect(&fresh_url(backend).await).await.unwrap();
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let same = || item(ORG_A, "deal-risk", "Acme renewal at risk", json!({}));
        let primary = dedup.enqueue(&queue, &[same()]).await.unwrap().remove(0);
        assert_eq!(queue.claim("w0", 1, None).await.unwrap()[0].id, primary.id);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let claimer = {
            let (queue, done) = (queue.clone(), done.clone());
            tokio::spawn(async move {
                let mut got = Vec::new();
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    for i in queue.claim("w1", 10, None).await.unwrap() {
                        got.push(i.id);
                    }
                    tokio::task::yield_now().await;
                }
                got
            })
        };
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let (dedup, queue) = (dedup.clone(), queue.clone());
                tokio::spawn(async move {
                    for _ in 0..25 {
                        let checked = dedup.enqueue(&queue, &[same()]).await.unwrap();
                        assert_eq!(checked[0].verdict, Verdict::Merged);
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let got = claimer.await.unwrap();
        assert!(
            got.is_empty(),
            "{backend:?}: claimed {} duplicates",
            got.len()
        );
        let group = dedup.group(primary.id).await.unwrap().unwrap();
        assert_eq!(group.merged_from.len(), 100, "{backend:?}");
        keel.close().await;
    }
}

/// 100 identical events at once: one primary, 99 suppressed, every agent counted once and no
/// evidence lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_identical_events_at_once_make_one_primary() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let keel = Keel::connect(&fresh_url(backend).await).await.unwrap();
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let (dedup, queue) = (dedup.clone(), queue.clone());
                tokio::spawn(async move {
                    let ctx = json!({"evidence": [format!("e{i}")], "confidence": 0.1});
                    let one = item(ORG_A, &format!("agent-{}", i % 10), "Acme at risk", ctx);
                    dedup.enqueue(&queue, &[one]).await.unwrap().remove(0)
                })
            })
            .collect();
        let mut primaries = Vec::new();
        for task in tasks {
            let checked = task.await.unwrap();
            if checked.verdict == Verdict::Primary {
                primaries.push(checked.id);
            } else {
                assert_eq!(checked.verdict, Verdict::Merged, "{backend:?}");
            }
        }
        assert_eq!(primaries.len(), 1, "{backend:?}");
        let group = dedup.group(primaries[0]).await.unwrap().unwrap();
        assert_eq!(group.merged_from.len(), 99);
        assert_eq!(group.merged_evidence.len(), 100, "no evidence lost");
        assert_eq!(group.contributing_agents.len(), 10, "each agent once");
        let counts = dedup.counts(ORG_A).await.unwrap();
        assert_eq!((counts["primaries"], counts["suppressed"]), (1, 99));
        keel.close().await;
    }
}

/// Four OS processes send 25 identical events each at the same moment: one primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_racing_make_one_primary() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        let keel = Keel::connect(&url).await.unwrap();
        let (dedup, queue) = open(&keel, DedupOptions::default());
        common::wait_for_start().await;
        let me = std::env::var("KEEL_CHILD_INDEX").unwrap();
        let mut primaries = 0;
        let tasks: Vec<_> = (0..25)
            .map(|i| {
                let (dedup, queue, me) = (dedup.clone(), queue.clone(), me.clone());
                tokio::spawn(async move {
                    let ctx = json!({"evidence": [format!("{me}-{i}")]});
                    let one = item(ORG_A, &format!("agent-{me}"), "Acme at risk", ctx);
                    dedup
                        .enqueue(&queue, &[one])
                        .await
                        .unwrap()
                        .remove(0)
                        .verdict
                })
            })
            .collect();
        for task in tasks {
            primaries += usize::from(task.await.unwrap() == Verdict::Primary);
        }
        println!("KEEL_CHILD {primaries}");
        keel.close().await;
        return;
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let url = fresh_url(backend).await;
        Keel::connect(&url).await.unwrap().close().await;
        let reports = common::run_children(
            "four_processes_racing_make_one_primary",
            4,
            &[("KEEL_CHILD_URL", url.clone())],
        );
        let primaries: usize = reports.iter().map(|r| r.parse::<usize>().unwrap()).sum();
        assert_eq!(primaries, 1, "{backend:?}: {reports:?}");
        let keel = Keel::connect(&url).await.unwrap();
        let dedup = Dedup::open(&keel, DedupOptions::default()).unwrap();
        let counts = dedup.counts(ORG_A).await.unwrap();
        assert_eq!(
            (counts["primaries"], counts["suppressed"]),
            (1, 99),
            "{backend:?}"
        );
        keel.close().await;
    }
}

#[tokio::test]
async fn the_sweep_checks_what_no_stage_checked_once_and_dry_runs_write_nothing() {
    on_each_backend(|backend, keel| async move {
        let (dedup, queue) = open(&keel, DedupOptions::default());
        let same = || item(ORG_A, "deal-risk", "Acme at risk", json!({}));
        let other = item(ORG_B, "deal-risk", "Globex wants a demo", json!({}));
        queue.enqueue(&[same(), same(), same(), other]).await.unwrap();
        let mut seen = Vec::new();
        let dry = dedup.sweep(None, true, &mut |d, t| seen.push((d, t))).await.unwrap();
        assert_eq!((dry.checked, dry.suppressed, dry.dry_run), (4, 0, true), "{backend:?}");
        assert_eq!(dedup.counts(ORG_A).await.unwrap()["primaries"], 0, "a dry run writes nothing");
        let only_b = dedup.sweep(Some(ORG_B), false, &mut |_, _| {}).await.unwrap();
        assert_eq!((only_b.checked, only_b.primaries), (1, 1));
        seen.clear();
        let real = dedup.sweep(None, false, &mut |d, t| seen.push((d, t))).await.unwrap();
        assert_eq!((real.checked, real.primaries, real.suppressed, real.groups_merged), (3, 1, 2, 1));
        assert_eq!(seen.last(), Some(&(3, 3)), "progress reaches the total");
        let again = dedup.sweep(None, false, &mut |_, _| {}).await.unwrap();
        assert_eq!(again.checked, 0, "idempotent");
        // A signature of another version (a future change of hashing) is signed again.
        exec(
            &keel,
            "UPDATE keel.command_centre_items SET minhash = decode('4b4d09', 'hex') WHERE dedup_open",
            "UPDATE command_centre_items SET minhash = X'4b4d09' WHERE dedup_open",
        )
        .await;
        let dry = dedup.sweep(None, true, &mut |_, _| {}).await.unwrap();
        assert_eq!(dry.resigned, 2, "{backend:?}");
        assert_eq!(dedup.sweep(None, false, &mut |_, _| {}).await.unwrap().resigned, 2);
        assert_eq!(dedup.sweep(None, false, &mut |_, _| {}).await.unwrap().resigned, 0);
        let near = item(ORG_A, "email", "Acme at risk", json!({"action_type": "email"}));
        let found = dedup.enqueue(&queue, &[near]).await.unwrap();
        assert_eq!(found[0].verdict, Verdict::NearMerged, "the new signature is found: {backend:?}");
        let err = dedup.sweep(Some("acme"), false, &mut |_, _| {}).await.unwrap_err();
        assert_eq!(err.field(), Some("org"));
        if let Pool::Postgres(pg) = keel.pool().unwrap() {
            sqlx::query("UPDATE keel.command_centre_items SET merge_window_expires = now() - interval '1 s'")
                .execute(pg)
                .await
                .unwrap();
            let (closed,): (i32,) = sqlx::query_as("SELECT keel.dedup_close_windows()")
                .fetch_one(pg)
                .await
                .unwrap();
            assert_eq!(closed, 2, "the pg_cron function closes both open windows");
        }
    })
    .await;
}

/// The labelled near-duplicate set (bench/data, scripts/gen_dedup_set.py): at threshold 0.8 the
/// index finds at least 95 % of the duplicate pairs whose exact Jaccard is at least 0.8, and
/// at least 99 % of what it returns are duplicates.
#[test]
fn the_labelled_set_is_found_with_high_recall_and_precision() {
    use std::collections::{BTreeSet, HashSet};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/data/near_duplicates.json"
    );
    let set: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let docs = set["docs"].as_array().unwrap();
    let shingles = |text: &str| -> HashSet<String> {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        words
            .windows(3.min(words.len()))
            .map(|w| w.join(" "))
            .collect()
    };
    let sets: Vec<HashSet<String>> = docs
        .iter()
        .map(|d| shingles(d["text"].as_str().unwrap()))
        .collect();
    let hasher = keel::dedup::MinHasher::default();
    let mut lsh = keel::dedup::MinHashLsh::new(0.8, 128).unwrap();
    let sigs: Vec<_> = docs
        .iter()
        .map(|d| hasher.signature(d["text"].as_str().unwrap()).unwrap())
        .collect();
    for (i, s) in sigs.iter().enumerate() {
        lsh.insert(&i.to_string(), s.clone()).unwrap();
    }
    let mut found = BTreeSet::new();
    for (i, s) in sigs.iter().enumerate() {
        for hit in lsh.query(s).unwrap() {
            let j: usize = hit.key.parse().unwrap();
            if j != i {
                found.insert((i.min(j), i.max(j)));
            }
        }
    }
    let group = |i: usize| docs[i]["group"].as_i64().unwrap();
    let mut relevant = BTreeSet::new();
    for i in 0..docs.len() {
        for j in (i + 1..docs.len()).filter(|&j| group(i) == group(j)) {
            let inter = sets[i].intersection(&sets[j]).count() as f64;
            let jaccard = inter / sets[i].union(&sets[j]).count() as f64;
            if jaccard >= 0.8 {
                relevant.insert((i, j));
            }
        }
    }
    let recall = found.intersection(&relevant).count() as f64 / relevant.len() as f64;
    let correct = found.iter().filter(|(i, j)| group(*i) == group(*j)).count();
    let precision = correct as f64 / found.len() as f64;
    assert!(relevant.len() > 1_000, "{}", relevant.len());
    assert!(recall >= 0.95, "recall {recall}");
    assert!(precision >= 0.99, "precision {precision}");
}
