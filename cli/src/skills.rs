//! `keel skills …`: validate a folder, sync it into the database, and look at what is stored.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use keel::skills::{
    Channel, Diagnostic, ParseOptions, RegistryOptions, Severity, SkillRegistry, SyncAction,
    SyncOptions,
};

use crate::models::org;
use crate::output::{Create, Ctx, DEFAULT_URL, Done, Failure, print_json};

/// `keel skills …`
#[derive(Subcommand)]
pub enum SkillsCommand {
    /// Check every SKILL.md under a folder; exits non-zero when any has an error.
    Validate {
        /// The library: `<path>/<namespace>/<key>/SKILL.md`, or the platform corpus's
        /// `<path>/atomic/<key>/` and `<path>/sequences/<key>/`.
        #[arg(default_value = "skills")]
        path: PathBuf,
        /// Also report what the Agent Skills reference validator rejects (flow-style YAML,
        /// non-spec top-level keys, a `name` that is not the folder).
        #[arg(long)]
        portable: bool,
    },
    /// Report, file by file, what a corpus in either layout gives Keel: loads, warned (and
    /// why) or refused. Writes nothing.
    Import {
        /// The corpus folder.
        path: PathBuf,
    },
    /// Write a portable copy of a library (either layout) in Keel's layout, listing every
    /// change; the copy passes `validate --portable`.
    Export {
        /// The library folder.
        path: PathBuf,
        /// Where to write the copy.
        out: PathBuf,
        /// Required: the only export there is writes portable files.
        #[arg(long, required = true)]
        portable: bool,
    },
    /// Sync a folder into the database: new content becomes the next version. Idempotent.
    Sync {
        /// The library folder.
        #[arg(default_value = "skills")]
        path: PathBuf,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deprecate platform skills no longer in the folder.
        #[arg(long)]
        prune: bool,
        /// Sync the files that validate and skip the others (exits non-zero if any was skipped).
        #[arg(long)]
        force: bool,
    },
    /// List the skills with a current version.
    List,
    /// Every version of one skill.
    History {
        /// The skill key.
        key: String,
    },
    /// Deprecate the current version of a skill (or `--restore` it).
    Deprecate {
        /// The skill key.
        key: String,
        /// Why, for the record (default: core's `deprecated`).
        #[arg(long)]
        reason: Option<String>,
        /// Undo an earlier deprecation.
        #[arg(long)]
        restore: bool,
    },
    /// What an org sees on a channel, and what was shadowed.
    Resolve {
        /// The org (UUID).
        org_id: String,
        /// web, slack, fleet or command_centre.
        channel: String,
    },
}

async fn open(ctx: &Ctx) -> keel::Result<(keel::Keel, SkillRegistry)> {
    let keel = ctx.connect(DEFAULT_URL, Create::No).await?;
    let skills = SkillRegistry::open(&keel, RegistryOptions::default()).await?;
    Ok((keel, skills))
}

/// Runs a `keel skills` subcommand.
pub async fn run(ctx: &Ctx, command: SkillsCommand) -> Done {
    let json = ctx.json;
    match command {
        SkillsCommand::Validate { path, portable } => {
            let library =
                keel::skills::load_library_with(&path, ParseOptions { portable }, |_, _| {})?;
            if json {
                print_json(&serde_json::json!({
                    "skills": library.skills.len(),
                    "diagnostics": library.diagnostics,
                }));
            } else {
                for finding in &library.diagnostics {
                    println!("{finding}");
                }
                let errors = library
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .count();
                println!(
                    "{}: {} skill(s) valid, {errors} error(s), {} warning(s)",
                    path.display(),
                    library.skills.len(),
                    library.diagnostics.len() - errors
                );
            }
            refuse_errors(library.diagnostics)
        }
        SkillsCommand::Import { path } => crate::skills_corpus::import(ctx, &path),
        SkillsCommand::Export { path, out, .. } => crate::skills_corpus::export(ctx, &path, &out),
        SkillsCommand::Sync {
            path,
            dry_run,
            prune,
            force,
        } => {
            let (keel, skills) = open(ctx).await?;
            let bar = progress_bar(json);
            let report = skills
                .sync(
                    &path,
                    SyncOptions {
                        dry_run,
                        prune,
                        force,
                    },
                    |done, total, item| {
                        if let Some(bar) = &bar {
                            bar.set_length(total as u64);
                            bar.set_position(done as u64);
                            bar.set_message(item.key.clone());
                        }
                    },
                )
                .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let report = report?;
            if json {
                print_json(&report);
            } else {
                for item in report
                    .items
                    .iter()
                    .filter(|i| i.action != SyncAction::Unchanged)
                {
                    let from = item.previous.map_or(String::new(), |v| format!("v{v} -> "));
                    println!(
                        "  {:<9} {}/{} {from}v{}",
                        item.action.as_str(),
                        item.namespace.as_str(),
                        item.key,
                        item.version
                    );
                }
                let counts: Vec<String> = SyncAction::ALL
                    .iter()
                    .map(|a| format!("{} {}", report.count(*a), a.as_str()))
                    .collect();
                for finding in &report.skipped {
                    println!("  skipped   {finding}");
                }
                let verb = if dry_run { "would sync" } else { "synced" };
                println!(
                    "{}: {verb} {} skill(s): {} ({} warning(s), {} error(s) skipped)",
                    keel.url(),
                    report.items.len(),
                    counts.join(", "),
                    report.warnings.len(),
                    report.skipped.len()
                );
            }
            keel.close().await;
            if !report.skipped.is_empty() {
                return Err(Failure::Reported(keel::Error::InvalidSkill {
                    diagnostics: report.skipped,
                }));
            }
            Ok(())
        }
        SkillsCommand::List => {
            let (keel, skills) = open(ctx).await?;
            let listed = skills.list().await?;
            if json {
                print_json(&listed);
            } else {
                println!(
                    "{:<8} {:<32} {:>7} {:>8}  {:<12}",
                    "ns", "skill", "version", "versions", "hash"
                );
                for s in &listed {
                    println!(
                        "{:<8} {:<32} {:>7} {:>8}  {:<12}{}",
                        s.namespace.as_str(),
                        s.key,
                        s.version,
                        s.versions,
                        &s.content_hash[..12.min(s.content_hash.len())],
                        if s.deprecated { "  (deprecated)" } else { "" }
                    );
                }
                println!("{} skill(s)", listed.len());
            }
            keel.close().await;
            Ok(())
        }
        SkillsCommand::History { key } => {
            let (keel, skills) = open(ctx).await?;
            let versions = skills.history(&key).await?;
            if json {
                print_json(&versions);
            } else {
                for v in &versions {
                    println!(
                        "v{:<4} {:<8} {:<12} {}{}{}",
                        v.version,
                        v.namespace.as_str(),
                        &v.content_hash[..12.min(v.content_hash.len())],
                        v.created_at,
                        if v.is_current { "  current" } else { "" },
                        v.deprecated_at
                            .as_ref()
                            .map_or(String::new(), |at| format!("  deprecated {at}"))
                    );
                }
                if versions.is_empty() {
                    println!("`{key}` has no stored version");
                }
            }
            keel.close().await;
            Ok(())
        }
        SkillsCommand::Deprecate {
            key,
            reason,
            restore,
        } => {
            let (keel, skills) = open(ctx).await?;
            let version = if restore {
                skills.restore(&key).await?
            } else {
                skills.deprecate(&key, reason.as_deref()).await?
            };
            let verb = if restore { "restored" } else { "deprecated" };
            ctx.emit(
                &serde_json::json!({"key": key, "version": version, "action": verb}),
                || format!("{key} v{version} {verb}\n"),
            );
            keel.close().await;
            Ok(())
        }
        SkillsCommand::Resolve { org_id, channel } => {
            let channel = Channel::parse(&channel)?;
            let org = org(&org_id)?;
            let (keel, skills) = open(ctx).await?;
            let view = skills.resolve_skills(org, channel).await?;
            if json {
                print_json(&*view);
            } else {
                for s in &view.skills {
                    let version = s.version.map_or("org".to_owned(), |v| format!("v{v}"));
                    println!("  {:<8} {:<32} {version}", s.namespace.as_str(), s.key);
                }
                for s in &view.shadowed {
                    println!(
                        "  shadowed {:<32} {:<16} {}",
                        s.key,
                        s.reason.as_str(),
                        s.detail
                    );
                }
                println!(
                    "{} skill(s) on {} for {org}, {} shadowed, {} failed",
                    view.len(),
                    channel.as_str(),
                    view.shadowed.len(),
                    view.failures().count()
                );
            }
            keel.close().await;
            let failed: Vec<_> = view.failures().map(|s| s.diagnostic()).collect();
            if !failed.is_empty() {
                return Err(Failure::Reported(keel::Error::InvalidSkill {
                    diagnostics: failed,
                }));
            }
            Ok(())
        }
    }
}

/// A bar on a terminal; nothing extra in cron logs or with `--json`.
pub fn progress_bar(json: bool) -> Option<ProgressBar> {
    (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("static template"),
        );
        bar
    })
}

/// Fails (already reported) with the error findings among `diagnostics`, if any.
pub fn refuse_errors(diagnostics: Vec<Diagnostic>) -> Done {
    let errors: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(Failure::Reported(keel::Error::InvalidSkill {
        diagnostics: errors,
    }))
}
