//! Skills: SKILL.md files parsed and validated, compiled per org, versioned by content hash,
//! filtered by channel and overridden per org.
//!
//! - [`parse`] and [`load_library`] read files and report every problem with its line, column
//!   and a stable code (`skills/README.md` in the repository is the reference for the fields,
//!   the template language and every code).
//! - [`compile`] renders a skill for an org's context; [`ResolvedSkill::render`] fills what
//!   waits for a request.
//! - [`SkillRegistry`] is the handle over the database: `sync` a folder (content-hash versions,
//!   one transaction per skill), history, deprecation, org overrides, and
//!   [`SkillRegistry::resolve_skills`] with its per-(org, channel) cache.
//!
//! ```
//! use keel::skills::{Channel, Namespace, parse};
//! let text = "---\nname: deal-status\ndescription: Where a deal stands.\n---\nStage: ${deal.stage}\n";
//! let parsed = parse("deal-status/SKILL.md", Some("deal-status"), text.as_bytes());
//! assert!(!parsed.has_errors());
//! assert_eq!(Channel::parse("slack")?.namespaces(), [Namespace::Slack, Namespace::Shared]);
//! # Ok::<(), keel::Error>(())
//! ```

mod channel;
mod compile;
mod export;
mod fields;
mod format;
mod import;
mod library;
mod meta;
mod org_store;
mod registry;
mod resolve;
mod store;
mod values;
mod view_cache;

pub use channel::Channel;
pub use compile::{
    Compiled, MAX_COMPILED_BYTES, MAX_EXPANSIONS, MAX_INCLUDE_DEPTH, compile, compile_source,
    context_hash, render_request,
};
pub use export::{ExportChange, ExportReport, export_portable};
pub use format::{
    BODY_TOKEN_BUDGET, CommandCentre, Diagnostic, MAX_DESCRIPTION, MAX_FILE_BYTES, MAX_FLOW_DEPTH,
    MAX_NAME, Namespace, ParseOptions, Parsed, Port, Priority, Severity, SkillDoc, SkillMeta,
    SkillType, Source, Trigger, estimate_tokens, is_key, parse, parse_with, references,
};
pub use import::{ImportFile, ImportReport, ImportStatus, import_report};
pub use library::{Library, LibrarySkill, content_hash, load_library, load_library_with};
pub use org_store::OverrideChange;
pub use registry::{
    DEFAULT_DEPRECATION_REASON, RegistryOptions, SkillRegistry, SyncOptions, SyncReport,
};
pub use resolve::{ResolvedSkill, ResolvedSkills, ShadowReason, Shadowed};
pub use store::{SkillSummary, SyncAction, SyncItem, VersionInfo};
