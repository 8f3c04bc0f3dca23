//! The skills registry on both backends: sync and versions, history, deprecation, org
//! overrides, channel views with their shadow report, and the cache.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::on_each_backend;
use keel::Keel;
use keel::skills::{
    Channel, Namespace, OverrideChange, RegistryOptions, ShadowReason, SkillRegistry, SyncAction,
    SyncOptions,
};
use uuid::Uuid;

fn repo_skills() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills")
}

fn temp_library() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel_skills_{}", Uuid::new_v4()));
    common::files::copy_dir(&repo_skills(), &dir);
    dir
}

fn skill(ns: &str, name: &str, body: &str) -> String {
    format!(
        "---\nname: {name}\ndescription: The {name} skill, for tests.\nmetadata:\n  namespace: {ns}\n---\n{body}\n"
    )
}

fn write_skill(root: &Path, ns: &str, name: &str, body: &str) {
    let dir = root.join(ns).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("SKILL.md"), skill(ns, name, body)).unwrap();
}

/// Syncs `root` with `options`.
async fn sync_with(
    skills: &SkillRegistry,
    root: &Path,
    options: SyncOptions,
) -> keel::skills::SyncReport {
    skills.sync(root, options, |_, _, _| {}).await.unwrap()
}

/// Syncs `root` with the default options.
async fn sync(skills: &SkillRegistry, root: &Path) -> keel::skills::SyncReport {
    sync_with(skills, root, SyncOptions::default()).await
}

/// The entry of `key` in a sync report.
fn entry<'r>(report: &'r keel::skills::SyncReport, key: &str) -> &'r keel::skills::SyncItem {
    report.items.iter().find(|i| i.key == key).unwrap()
}

async fn registry(keel: &Keel) -> SkillRegistry {
    SkillRegistry::open(keel, RegistryOptions::default())
        .await
        .unwrap()
}

async fn current_rows(keel: &Keel, key: &str) -> i64 {
    match keel.pool().unwrap() {
        keel::Pool::Postgres(pg) => sqlx::query_scalar(
            "SELECT count(*) FROM platform_skills WHERE skill_key = $1 AND is_current",
        )
        .bind(key)
        .fetch_one(pg)
        .await
        .unwrap(),
        keel::Pool::Sqlite(lite) => sqlx::query_scalar(
            "SELECT count(*) FROM platform_skills WHERE skill_key = ?1 AND is_current",
        )
        .bind(key)
        .fetch_one(lite)
        .await
        .unwrap(),
    }
}

#[tokio::test]
async fn sync_is_idempotent_and_versions_follow_content() {
    on_each_backend(|backend, keel| async move {
        let skills = registry(&keel).await;
        let root = temp_library();
        let mut calls = 0;
        let first = skills
            .sync(&root, SyncOptions::default(), |done, total, _| {
                calls += 1;
                assert!(done <= total);
            })
            .await
            .unwrap();
        assert!(first.items.len() >= 30, "{backend:?}");
        assert_eq!(calls, first.items.len());
        assert_eq!(first.count(SyncAction::Created), first.items.len());
        let again = sync(&skills, &root).await;
        assert_eq!(
            again.count(SyncAction::Unchanged),
            again.items.len(),
            "{backend:?}"
        );
        assert!(!again.changed());

        // An edit is version 2; the same edit again is nothing; going back makes 1 current.
        let file = root.join("copilot/deal-status/SKILL.md");
        let original = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{original}\nOne more line.\n")).unwrap();
        let dry = sync_with(
            &skills,
            &root,
            SyncOptions {
                dry_run: true,
                prune: false,
                force: false,
            },
        )
        .await;
        assert_eq!(dry.count(SyncAction::Updated), 1);
        assert_eq!(
            skills.history("deal-status").await.unwrap().len(),
            1,
            "dry run wrote"
        );
        let bumped = sync(&skills, &root).await;
        let item = entry(&bumped, "deal-status");
        assert_eq!(
            (item.action, item.previous, item.version),
            (SyncAction::Updated, Some(1), 2)
        );
        assert_eq!(bumped.count(SyncAction::Updated), 1);
        std::fs::write(&file, &original).unwrap();
        let dry = sync_with(
            &skills,
            &root,
            SyncOptions {
                dry_run: true,
                prune: false,
                force: false,
            },
        )
        .await;
        let item = entry(&dry, "deal-status");
        assert_eq!(
            (item.action, item.version),
            (SyncAction::Restored, 1),
            "a dry run says what a sync would do"
        );
        let back = sync(&skills, &root).await;
        let item = entry(&back, "deal-status");
        assert_eq!((item.action, item.version), (SyncAction::Restored, 1));
        let history = skills.history("deal-status").await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(
            history
                .iter()
                .map(|v| (v.version, v.is_current))
                .collect::<Vec<_>>(),
            [(1, true), (2, false)]
        );
        assert_eq!(current_rows(&keel, "deal-status").await, 1);

        // A document edit is a new version too.
        let refs = root.join("copilot/deal-status/references");
        std::fs::create_dir_all(&refs).unwrap();
        std::fs::write(refs.join("notes.md"), "Stage notes.").unwrap();
        let with_doc = sync(&skills, &root).await;
        assert_eq!(with_doc.count(SyncAction::Updated), 1);

        // Prune deprecates what left the folder.
        std::fs::remove_dir_all(root.join("fleet/eod-summary")).unwrap();
        let pruned = sync_with(
            &skills,
            &root,
            SyncOptions {
                dry_run: false,
                prune: true,
                force: false,
            },
        )
        .await;
        assert_eq!(pruned.count(SyncAction::Pruned), 1);
        let listed = skills.list().await.unwrap();
        let eod = listed.iter().find(|s| s.key == "eod-summary").unwrap();
        assert!(eod.deprecated);
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

#[tokio::test]
async fn an_invalid_library_is_refused_whole() {
    on_each_backend(|_, keel| async move {
        let skills = registry(&keel).await;
        let root = std::env::temp_dir().join(format!("keel_bad_{}", Uuid::new_v4()));
        write_skill(&root, "copilot", "good-one", "Fine.");
        let dir = root.join("copilot/bad-one");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("SKILL.md"),
            "---\nname: other-name\ndescription: x\n---\nBody\n",
        )
        .unwrap();
        let err = skills
            .sync(&root, SyncOptions::default(), |_, _, _| {})
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_skill");
        assert_eq!(err.diagnostics()[0].code, "name_mismatch");
        assert!(
            skills.list().await.unwrap().is_empty(),
            "nothing may be written"
        );
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

/// Many syncs of different content for one skill at once: every version number is used once,
/// and a reader polling throughout never sees zero or two current versions.
#[tokio::test]
async fn concurrent_syncs_never_leave_zero_or_two_current_versions() {
    on_each_backend(|backend, keel| async move {
        let skills = registry(&keel).await;
        let base = std::env::temp_dir().join(format!("keel_race_{}", Uuid::new_v4()));
        write_skill(&base.join("v0"), "shared", "raced", "Version zero.");
        sync(&skills, &base.join("v0")).await;
        let writers = 12;
        for i in 1..=writers {
            write_skill(
                &base.join(format!("v{i}")),
                "shared",
                "raced",
                &format!("Version {i}."),
            );
        }
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (keel, done) = (keel.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    assert_eq!(
                        current_rows(&keel, "raced").await,
                        1,
                        "a reader saw a gap or a double"
                    );
                    reads += 1;
                }
                reads
            })
        };
        let tasks: Vec<_> = (1..=writers)
            .map(|i| {
                let (skills, root) = (skills.clone(), base.join(format!("v{i}")));
                tokio::spawn(async move {
                    skills
                        .sync(&root, SyncOptions::default(), |_, _, _| {})
                        .await
                        .map(|r| r.items[0].version)
                })
            })
            .collect();
        let mut versions = Vec::new();
        for task in tasks {
            versions.push(task.await.unwrap().unwrap());
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        let reads = reader.await.unwrap();
        assert!(reads > 0);
        versions.sort_unstable();
        assert_eq!(
            versions,
            (2..=writers + 1).collect::<Vec<u32>>(),
            "{backend:?}"
        );
        let history = skills.history("raced").await.unwrap();
        assert_eq!(history.len() as u32, writers + 1);
        assert_eq!(history.iter().filter(|v| v.is_current).count(), 1);
        std::fs::remove_dir_all(&base).ok();
    })
    .await;
}

fn keys(view: &keel::skills::ResolvedSkills) -> Vec<&str> {
    view.skills.iter().map(|s| s.key.as_str()).collect()
}

#[tokio::test]
async fn channels_see_their_namespaces_and_org_overrides_win() {
    on_each_backend(|backend, keel| async move {
        let skills = registry(&keel).await;
        let root = std::env::temp_dir().join(format!("keel_view_{}", Uuid::new_v4()));
        write_skill(&root, "copilot", "web-only", "For ${company_name}.");
        write_skill(&root, "slack", "slack-only", "Slack.");
        write_skill(&root, "fleet", "fleet-only", "Fleet.");
        write_skill(
            &root,
            "shared",
            "everywhere",
            "Shared ${company_name|upper}.",
        );
        write_skill(&root, "shared", "needs-deal", "Deal ${deal.name}.");
        sync(&skills, &root).await;
        let org = Uuid::new_v4();
        skills
            .set_org_context(org, serde_json::json!({"company_name": "Acme"}))
            .await
            .unwrap();

        let web = skills.resolve_skills(org, Channel::Web).await.unwrap();
        assert_eq!(keys(&web), ["everywhere", "web-only"], "{backend:?}");
        assert!(
            web.get("everywhere")
                .unwrap()
                .content
                .ends_with("Shared ACME.\n")
        );
        assert!(
            web.get("web-only")
                .unwrap()
                .content
                .contains("<org-context>")
        );
        let failed = &web.shadowed[0];
        assert_eq!(
            (failed.key.as_str(), failed.reason),
            ("needs-deal", ShadowReason::CompileFailed)
        );
        let slack = skills.resolve_skills(org, Channel::Slack).await.unwrap();
        assert_eq!(keys(&slack), ["everywhere", "slack-only"]);
        for channel in [Channel::Fleet, Channel::CommandCentre] {
            let fleet = skills.resolve_skills(org, channel).await.unwrap();
            assert_eq!(keys(&fleet), ["everywhere", "fleet-only"]);
        }
        // Cached: the same view until something changes.
        let again = skills.resolve_skills(org, Channel::Web).await.unwrap();
        assert!(Arc::ptr_eq(&web, &again));
        assert_eq!(Channel::parse("sms").unwrap_err().field(), Some("channel"));

        // Overrides: disable, move, replace, pin.
        skills.set_enabled(org, "web-only", false).await.unwrap();
        skills
            .move_to(org, "slack-only", Some(Namespace::Copilot))
            .await
            .unwrap();
        skills
            .replace(
                org,
                "everywhere",
                Some(skill(
                    "shared",
                    "everywhere",
                    "Org text for ${company_name}.",
                )),
            )
            .await
            .unwrap();
        let web = skills.resolve_skills(org, Channel::Web).await.unwrap();
        assert!(
            !Arc::ptr_eq(&web, &again),
            "an override must drop the cached view"
        );
        assert_eq!(keys(&web), ["everywhere", "slack-only"]);
        let everywhere = web.get("everywhere").unwrap();
        assert_eq!(
            (everywhere.source, everywhere.version),
            (keel::skills::Source::Org, None)
        );
        assert!(everywhere.content.ends_with("Org text for Acme.\n"));
        let reasons: Vec<(&str, ShadowReason)> = web
            .shadowed
            .iter()
            .map(|s| (s.key.as_str(), s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                ("everywhere", ShadowReason::ReplacedByOrg),
                ("needs-deal", ShadowReason::CompileFailed),
                ("web-only", ShadowReason::DisabledByOrg),
            ]
        );
        let slack = skills.resolve_skills(org, Channel::Slack).await.unwrap();
        assert_eq!(keys(&slack), ["everywhere"]);
        assert_eq!(
            slack
                .shadowed
                .iter()
                .find(|s| s.key == "slack-only")
                .unwrap()
                .reason,
            ShadowReason::MovedByOrg
        );
        // Another org sees none of it; with no context, what needs one does not compile.
        let stranger = Uuid::new_v4();
        let other = skills.resolve_skills(stranger, Channel::Web).await.unwrap();
        assert!(other.is_empty());
        assert!(
            other
                .shadowed
                .iter()
                .all(|s| s.reason == ShadowReason::CompileFailed)
        );
        skills
            .set_org_context(stranger, serde_json::json!({"company_name": "Globex"}))
            .await
            .unwrap();
        let other = skills.resolve_skills(stranger, Channel::Web).await.unwrap();
        assert_eq!(keys(&other), ["everywhere", "web-only"]);

        // Pin: a new version is synced; the org stays on version 1.
        write_skill(&root, "fleet", "fleet-only", "Fleet, second edition.");
        sync(&skills, &root).await;
        skills.pin(org, "fleet-only", Some(1)).await.unwrap();
        let fleet = skills.resolve_skills(org, Channel::Fleet).await.unwrap();
        let pinned = fleet.get("fleet-only").unwrap();
        assert_eq!(pinned.version, Some(1));
        assert!(pinned.content.ends_with("Fleet.\n"));
        assert_eq!(
            fleet
                .shadowed
                .iter()
                .find(|s| s.key == "fleet-only")
                .unwrap()
                .reason,
            ShadowReason::PinnedByOrg
        );
        let err = skills.pin(org, "fleet-only", Some(9)).await.unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("version"))
        );
        let err = skills
            .replace(
                org,
                "fleet-only",
                Some(skill("fleet", "not-this-name", "x")),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_skill");
        assert_eq!(err.diagnostics()[0].code, "name_mismatch");

        // Deprecation hides the version served; restoring shows it again.
        skills
            .deprecate("fleet-only", Some("superseded"))
            .await
            .unwrap();
        let other_org = stranger;
        let view = skills
            .resolve_skills(other_org, Channel::Fleet)
            .await
            .unwrap();
        assert_eq!(keys(&view), ["everywhere"]);
        assert_eq!(view.shadowed[0].reason, ShadowReason::Deprecated);
        skills.restore("fleet-only").await.unwrap();
        let view = skills
            .resolve_skills(other_org, Channel::Fleet)
            .await
            .unwrap();
        assert_eq!(keys(&view), ["everywhere", "fleet-only"]);

        // The compiled text and its context hash are stored on the org's rows.
        let stored: Option<(String, String)> = match keel.pool().unwrap() {
            keel::Pool::Postgres(pg) => sqlx::query_as(
                "SELECT compiled_content, context_hash FROM organization_skills
                 WHERE org_id = $1::uuid AND skill_key = 'everywhere'",
            )
            .bind(org.to_string())
            .fetch_optional(pg)
            .await
            .unwrap(),
            keel::Pool::Sqlite(lite) => sqlx::query_as(
                "SELECT compiled_content, context_hash FROM organization_skills
                 WHERE org_id = ?1 AND skill_key = 'everywhere'",
            )
            .bind(org.to_string())
            .fetch_optional(lite)
            .await
            .unwrap(),
        };
        let (content, hash) = stored.expect("compiled row");
        assert!(content.ends_with("Org text for Acme.\n"));
        assert_eq!(
            hash,
            keel::skills::context_hash(&serde_json::json!({"company_name": "Acme"}))
        );
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

/// A change made through one registry reaches another instance's cache within `staleness`.
#[tokio::test]
async fn other_instances_drop_stale_views_within_the_staleness_bound() {
    on_each_backend(|backend, keel| async move {
        // Two registries share nothing but the database, as two processes would.
        let options = RegistryOptions {
            staleness: Duration::from_millis(50),
            ..RegistryOptions::default()
        };
        let writer = SkillRegistry::open(&keel, options.clone()).await.unwrap();
        let reader = SkillRegistry::open(&keel, options).await.unwrap();
        let root = std::env::temp_dir().join(format!("keel_stale_{}", Uuid::new_v4()));
        write_skill(&root, "shared", "first", "One.");
        sync(&writer, &root).await;
        let org = Uuid::new_v4();
        let before = reader.resolve_skills(org, Channel::Web).await.unwrap();
        assert_eq!(keys(&before), ["first"]);
        // An org change, then a library change, each seen by the other registry in time.
        writer.set_enabled(org, "first", false).await.unwrap();
        let wait_for = |want: Vec<&'static str>| {
            let reader = reader.clone();
            async move {
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                loop {
                    let view = reader.resolve_skills(org, Channel::Web).await.unwrap();
                    if keys(&view) == want {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{backend:?}: stale past the bound: {:?}",
                        keys(&view)
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        wait_for(vec![]).await;
        write_skill(&root, "shared", "second", "Two.");
        sync(&writer, &root).await;
        wait_for(vec!["second"]).await;
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

#[tokio::test]
async fn the_cache_holds_at_most_max_cached_orgs() {
    on_each_backend(|_, keel| async move {
        let options = RegistryOptions {
            max_cached_orgs: 2,
            ..RegistryOptions::default()
        };
        let skills = SkillRegistry::open(&keel, options).await.unwrap();
        let root = std::env::temp_dir().join(format!("keel_bound_{}", Uuid::new_v4()));
        write_skill(&root, "shared", "only", "One.");
        sync(&skills, &root).await;
        let orgs: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
        for org in &orgs {
            skills.resolve_skills(*org, Channel::Web).await.unwrap();
            // One compile fills every channel of the org.
            assert!(skills.cached(*org, Channel::Slack).is_some());
        }
        for (i, org) in orgs.iter().enumerate() {
            assert_eq!(
                skills.cached(*org, Channel::Web).is_some(),
                i >= 4,
                "the oldest orgs go first: org {i}"
            );
        }
        // Two orgs, four channels each: the bound holds for every eviction, not only the first.
        assert_eq!(format!("{skills:?}"), "SkillRegistry { cached_views: 8 }");
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

/// The rule for an org's own SKILL.md: `replace` refuses one that does not compile with the
/// org's context now; one that breaks later (the context changed) is reported as
/// `replacement_failed` and the platform version it replaced is served, never hidden.
#[tokio::test]
async fn a_broken_replacement_never_hides_the_platform_skill() {
    on_each_backend(|backend, keel| async move {
        let skills = registry(&keel).await;
        let root = std::env::temp_dir().join(format!("keel_repl_{}", Uuid::new_v4()));
        write_skill(&root, "shared", "greeting", "Hello from the platform.");
        sync(&skills, &root).await;
        let org = Uuid::new_v4();
        skills
            .set_org_context(org, serde_json::json!({"company_name": "Acme"}))
            .await
            .unwrap();
        let err = skills
            .replace(
                org,
                "greeting",
                Some(skill("shared", "greeting", "Hi ${missing_value}.")),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_skill", "{backend:?}");
        assert_eq!(err.diagnostics()[0].code, "compile_failed");
        let err = skills
            .replace(
                org,
                "greeting",
                Some(skill("shared", "greeting", "Hi ${x|shout}.")),
            )
            .await
            .unwrap_err();
        assert_eq!(err.diagnostics()[0].code, "template_modifier");

        skills
            .replace(
                org,
                "greeting",
                Some(skill("shared", "greeting", "Hi ${company_name}.")),
            )
            .await
            .unwrap();
        let web = skills.resolve_skills(org, Channel::Web).await.unwrap();
        assert!(web.get("greeting").unwrap().content.ends_with("Hi Acme.\n"));
        assert_eq!(web.failures().count(), 0);

        // The context loses the value the replacement needs: the platform text comes back.
        skills
            .set_org_context(org, serde_json::json!({}))
            .await
            .unwrap();
        let web = skills.resolve_skills(org, Channel::Web).await.unwrap();
        let served = web.get("greeting").expect("the platform skill is served");
        assert_eq!(served.version, Some(1));
        assert!(served.content.ends_with("Hello from the platform.\n"));
        let failures: Vec<_> = web.failures().collect();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].reason, ShadowReason::ReplacementFailed);
        assert!(
            failures[0].detail.contains("company_name"),
            "{}",
            failures[0].detail
        );
        assert_eq!(failures[0].diagnostic().code, "replacement_failed");
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

/// `force` syncs what validates and lists what it skipped; it never prunes past a failure.
#[tokio::test]
async fn a_forced_sync_skips_the_invalid_files_and_reports_them() {
    on_each_backend(|backend, keel| async move {
        let skills = registry(&keel).await;
        let root = std::env::temp_dir().join(format!("keel_force_{}", Uuid::new_v4()));
        write_skill(&root, "copilot", "good-one", "Fine ${company_name|upper}.");
        write_skill(&root, "copilot", "bad-one", "Unclosed ${company_name.");
        let err = skills
            .sync(&root, SyncOptions::default(), |_, _, _| {})
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_skill", "{backend:?}");
        assert_eq!(err.diagnostics()[0].code, "template_unclosed");
        assert!(skills.list().await.unwrap().is_empty());

        let prune = SyncOptions {
            force: true,
            prune: true,
            ..Default::default()
        };
        let err = skills.sync(&root, prune, |_, _, _| {}).await.unwrap_err();
        assert_eq!((err.code(), err.field()), ("invalid_input", Some("prune")));

        let force = SyncOptions {
            force: true,
            ..Default::default()
        };
        let report = sync_with(&skills, &root, force).await;
        assert_eq!(report.items.len(), 1);
        assert_eq!(entry(&report, "good-one").action, SyncAction::Created);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].code, "template_unclosed");
        assert!(report.skipped[0].file.contains("bad-one"));
        let listed: Vec<String> = skills
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(listed, ["good-one"]);
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

/// The action names are the stable spelling the CLI prints and the bindings return.
#[test]
fn sync_actions_have_their_stable_names() {
    let names: Vec<&str> = SyncAction::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        names,
        ["created", "updated", "restored", "unchanged", "pruned"]
    );
    for action in [SyncAction::Created, SyncAction::Pruned] {
        assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
    }
}

/// Keys are checked as names are: 1-64 lowercase letters, digits and hyphens.
#[tokio::test]
async fn malformed_keys_are_refused_naming_the_key() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let skills = registry(&keel).await;
    let longest = "a".repeat(64);
    for good in ["deal-status", "a1", longest.as_str()] {
        assert!(skills.history(good).await.unwrap().is_empty(), "{good}");
    }
    let too_long = "a".repeat(65);
    for bad in [
        "",
        "Deal",
        "deal_status",
        "deal status",
        "dé",
        too_long.as_str(),
    ] {
        let err = skills.history(bad).await.unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("key")),
            "{bad:?}"
        );
        let err = skills.deprecate(bad, None).await.unwrap_err();
        assert_eq!(err.field(), Some("key"), "{bad:?}");
    }
    keel.close().await;
}

/// `SkillRegistry::validate` reads a folder as `sync` would, and writes nothing.
#[test]
fn validate_reads_the_folder_sync_would() {
    let library = SkillRegistry::validate(&repo_skills()).unwrap();
    assert_eq!(library.skills.len(), 32);
    assert!(!library.has_errors(), "{:?}", library.diagnostics);
    let root = std::env::temp_dir().join(format!("keel_validate_{}", Uuid::new_v4()));
    write_skill(&root, "copilot", "bad-one", "Unclosed ${company_name.");
    let library = SkillRegistry::validate(&root).unwrap();
    assert!(library.skills.is_empty() && library.has_errors());
    assert_eq!(library.diagnostics[0].code, "template_unclosed");
    std::fs::remove_dir_all(&root).ok();
}

/// What a sync reports besides its items: warnings, the dry-run flag, progress from 1 to the
/// total; and a dry run or a sync that changes nothing keeps the cached views.
#[tokio::test]
async fn a_sync_reports_warnings_progress_and_keeps_views_it_does_not_change() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let skills = registry(&keel).await;
    let root = std::env::temp_dir().join(format!("keel_report_{}", Uuid::new_v4()));
    write_skill(&root, "shared", "one", "One.");
    write_skill(&root, "shared", "two", "Two.");
    let dir = root.join("shared/three");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        "---\nname: three\ndescription: d\ncolour: blue\n---\nThree.\n",
    )
    .unwrap();
    let mut seen = Vec::new();
    let report = skills
        .sync(&root, SyncOptions::default(), |done, total, _| {
            seen.push((done, total))
        })
        .await
        .unwrap();
    assert_eq!(seen, [(1, 3), (2, 3), (3, 3)]);
    assert!(!report.dry_run);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert_eq!(report.warnings[0].severity, keel::skills::Severity::Warning);

    let org = Uuid::new_v4();
    let view = skills.resolve_skills(org, Channel::Web).await.unwrap();
    write_skill(&root, "shared", "one", "One, edited.");
    let dry = SyncOptions {
        dry_run: true,
        ..Default::default()
    };
    let report = sync_with(&skills, &root, dry).await;
    assert!(report.dry_run && report.changed());
    let again = skills.resolve_skills(org, Channel::Web).await.unwrap();
    assert!(
        Arc::ptr_eq(&view, &again),
        "a dry run changes nothing, so the view stays"
    );
    sync(&skills, &root).await;
    let after = skills.resolve_skills(org, Channel::Web).await.unwrap();
    assert!(!Arc::ptr_eq(&view, &after), "a real change drops the view");
    sync(&skills, &root).await;
    let unchanged = skills.resolve_skills(org, Channel::Web).await.unwrap();
    assert!(
        Arc::ptr_eq(&after, &unchanged),
        "a sync that changes nothing keeps it"
    );
    std::fs::remove_dir_all(&root).ok();
    keel.close().await;
}

/// An org's own SKILL.md may include a platform skill's document; `replace` compiles it with
/// that skill's documents, not another's.
#[tokio::test]
async fn a_replacement_includes_the_documents_of_the_skill_it_names() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let skills = registry(&keel).await;
    let root = std::env::temp_dir().join(format!("keel_docs_{}", Uuid::new_v4()));
    write_skill(&root, "shared", "aaa-first", "First.");
    write_skill(&root, "shared", "playbook", "Playbook.");
    std::fs::create_dir_all(root.join("shared/playbook/references")).unwrap();
    std::fs::write(
        root.join("shared/playbook/references/rules.md"),
        "Rule one.",
    )
    .unwrap();
    sync(&skills, &root).await;
    let org = Uuid::new_v4();
    skills
        .replace(
            org,
            "aaa-first",
            Some(skill("shared", "aaa-first", "Mine. @playbook/rules.md")),
        )
        .await
        .unwrap();
    let view = skills.resolve_skills(org, Channel::Web).await.unwrap();
    assert!(
        view.get("aaa-first")
            .unwrap()
            .content
            .contains("Mine. Rule one.")
    );
    std::fs::remove_dir_all(&root).ok();
    keel.close().await;
}

/// The org's rows record what it was last served: the compiled text, the version and the
/// context hash, rewritten when any of the three changes.
#[tokio::test]
async fn the_org_rows_record_what_was_served_last() {
    async fn recorded(keel: &Keel, org: Uuid) -> (String, Option<i64>, String) {
        let keel::Pool::Sqlite(pool) = keel.pool().unwrap() else {
            panic!()
        };
        sqlx::query_as(
            "SELECT compiled_content, compiled_version, context_hash FROM organization_skills
             WHERE org_id = ?1 AND skill_key = 'greeting'",
        )
        .bind(org.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
    }
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let skills = registry(&keel).await;
    let root = std::env::temp_dir().join(format!("keel_rows_{}", Uuid::new_v4()));
    write_skill(&root, "shared", "greeting", "Hello ${company_name}.");
    sync(&skills, &root).await;
    let org = Uuid::new_v4();
    skills
        .set_org_context(org, serde_json::json!({"company_name": "Acme"}))
        .await
        .unwrap();
    let view = skills.resolve_skills(org, Channel::Web).await.unwrap();
    let served = view.get("greeting").unwrap();
    let first = recorded(&keel, org).await;
    assert_eq!(
        first,
        (served.content.clone(), Some(1), served.context_hash.clone())
    );
    // A new context: new text and hash, same version.
    skills
        .set_org_context(org, serde_json::json!({"company_name": "Globex"}))
        .await
        .unwrap();
    skills.resolve_skills(org, Channel::Web).await.unwrap();
    let second = recorded(&keel, org).await;
    assert!(
        second.0.ends_with("Hello Globex.\n") && second.1 == Some(1),
        "{second:?}"
    );
    assert_ne!(second.2, first.2);
    // A new version whose compiled text is the same (only the description changed): only the
    // version changes, and it is recorded.
    std::fs::write(
        root.join("shared/greeting/SKILL.md"),
        "---\nname: greeting\ndescription: Says hello.\nmetadata:\n  namespace: shared\n---\nHello ${company_name}.\n",
    )
    .unwrap();
    sync(&skills, &root).await;
    skills.resolve_skills(org, Channel::Web).await.unwrap();
    let third = recorded(&keel, org).await;
    assert_eq!(
        (&third.0, third.1, &third.2),
        (&second.0, Some(2), &second.2)
    );
    // A context change the text does not show (an object is not in the org block): only the
    // hash changes, and it is recorded.
    let context = serde_json::json!({"company_name": "Globex", "crm": {"kind": "hubspot"}});
    skills.set_org_context(org, context.clone()).await.unwrap();
    assert_eq!(skills.org_context(org).await.unwrap(), context);
    let view = skills.resolve_skills(org, Channel::Web).await.unwrap();
    let fourth = recorded(&keel, org).await;
    assert_eq!((&fourth.0, fourth.1), (&third.0, Some(2)));
    assert_eq!(fourth.2, view.get("greeting").unwrap().context_hash);
    assert_ne!(fourth.2, third.2);
    // Only the text changes: a document it includes from another skill was edited; the
    // skill's own version stays.
    write_skill(&root, "shared", "playbook", "Playbook.");
    std::fs::create_dir_all(root.join("shared/playbook/references")).unwrap();
    std::fs::write(
        root.join("shared/playbook/references/rules.md"),
        "Rule one.",
    )
    .unwrap();
    let with_include = "---\nname: greeting\ndescription: Says hello.\nmetadata:\n  namespace: shared\n---\nHello ${company_name}. @playbook/rules.md\n";
    std::fs::write(root.join("shared/greeting/SKILL.md"), with_include).unwrap();
    sync(&skills, &root).await;
    skills.resolve_skills(org, Channel::Web).await.unwrap();
    let fifth = recorded(&keel, org).await;
    assert!(fifth.0.ends_with("Rule one.\n"), "{fifth:?}");
    std::fs::write(
        root.join("shared/playbook/references/rules.md"),
        "Rule two.",
    )
    .unwrap();
    sync(&skills, &root).await;
    skills.resolve_skills(org, Channel::Web).await.unwrap();
    let sixth = recorded(&keel, org).await;
    assert!(sixth.0.ends_with("Rule two.\n"), "{sixth:?}");
    assert_eq!((sixth.1, &sixth.2), (fifth.1, &fifth.2));
    std::fs::remove_dir_all(&root).ok();
    keel.close().await;
}

/// `invalidate_org` drops one org's cached view and nothing else; `invalidate` also drops the
/// cached platform versions. Between them, a registry whose staleness bound is an hour serves
/// what it cached, which proves the cache was in the way.
#[tokio::test]
async fn invalidation_drops_exactly_what_it_names() {
    on_each_backend(|backend, keel| async move {
        let slow = RegistryOptions {
            staleness: Duration::from_secs(3600),
            ..RegistryOptions::default()
        };
        let writer = SkillRegistry::open(&keel, slow.clone()).await.unwrap();
        let reader = SkillRegistry::open(&keel, slow).await.unwrap();
        let root = std::env::temp_dir().join(format!("keel_invalidate_{}", Uuid::new_v4()));
        write_skill(&root, "shared", "first", "One.");
        sync(&writer, &root).await;
        let (org, other) = (Uuid::new_v4(), Uuid::new_v4());
        let view = |org| {
            let reader = reader.clone();
            async move {
                let v = reader.resolve_skills(org, Channel::Web).await.unwrap();
                keys(&v).iter().map(|k| k.to_string()).collect::<Vec<_>>()
            }
        };
        assert_eq!(view(org).await, ["first"]);
        assert_eq!(view(other).await, ["first"]);

        // set_override is what set_enabled, pin, move_to and replace call.
        writer
            .set_override(org, "first", OverrideChange::Enabled(false))
            .await
            .unwrap();
        write_skill(&root, "shared", "second", "Two.");
        sync(&writer, &root).await;
        assert_eq!(view(org).await, ["first"], "{backend:?}: cached");

        reader.invalidate_org(other);
        assert_eq!(
            view(org).await,
            ["first"],
            "{backend:?}: another org's view"
        );
        // The other org's view is rebuilt from the cached platform versions: no "second" yet.
        assert_eq!(view(other).await, ["first"], "{backend:?}");

        reader.invalidate_org(org);
        assert_eq!(view(org).await, Vec::<String>::new(), "{backend:?}");

        reader.invalidate();
        assert_eq!(view(org).await, ["second"], "{backend:?}");
        assert_eq!(view(other).await, ["first", "second"], "{backend:?}");
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

/// The platform-shaped corpus (`testdata/skill-corpus/`, both layouts' original half) syncs on
/// both backends and each channel serves what the shared vector says.
#[tokio::test]
async fn the_platform_corpus_syncs_and_resolves_on_both_backends() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(testdata.join("skill_corpus.json")).unwrap())
            .unwrap();
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "views_per_channel")
        .unwrap()
        .clone();
    let root = testdata.join(case["input"]["root"].as_str().unwrap());
    on_each_backend(|backend, keel| {
        let (root, expected) = (root.clone(), case["expected"].clone());
        async move {
            let got = common::corpus_views(&keel, &root).await;
            assert_eq!(got, expected, "{backend:?}");
        }
    })
    .await;
}
