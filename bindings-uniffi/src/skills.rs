//! `Keel.skillRegistry`, `SkillRegistry`, `ResolvedSkills`, and `parseSkill`,
//! `validateSkills`, `compileSkill`, `channelNamespaces` (core: `keel::skills`). Structured
//! results are JSON text (camelCase, Node's `ParsedSkill`, `SyncReport`, …).

use std::path::PathBuf;
use std::sync::Arc;

use keel::skills::{self, Channel, OverrideChange, SyncOptions};

use crate::error::KeelError;
use crate::host::task_model;
use crate::json::{options, record, value};
use crate::models::org;
use crate::runtime::{run, within};
use crate::store::Keel;

/// Parses one SKILL.md (`folder`: the folder it sits in, for the name check); JSON
/// `{ skill, diagnostics }` (skill is null when a finding is an error). `optionsJson`
/// `{ "portable": true }` adds what the Agent Skills reference validator rejects.
///
/// # Errors
/// `invalid_input` naming the option at fault.
#[uniffi::export(default(folder = None, file = None, options_json = None))]
pub fn parse_skill(
    text: String,
    folder: Option<String>,
    file: Option<String>,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let options = options(options_json.as_deref(), "options")?;
    let file = file.as_deref().unwrap_or("SKILL.md");
    let parsed = skills::parse_with(file, folder.as_deref(), text.as_bytes(), options);
    Ok(record(&parsed))
}

/// Reads and validates a library folder in either layout; JSON `{ skills, diagnostics }`.
///
/// # Errors
/// `invalid_input` for a folder that cannot be read or an option at fault.
#[uniffi::export(default(options_json = None))]
pub async fn validate_skills(
    path: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    run(async move {
        let options: skills::ParseOptions = options(options_json.as_deref(), "options")?;
        let work = move || skills::load_library_with(&PathBuf::from(path), options, |_, _| {});
        let library = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| keel::Error::Internal(e.to_string()))??;
        Ok(record(&library))
    })
    .await
}

/// What a corpus in either layout gives Keel, file by file: JSON `{ files, loads, warned,
/// refused, codes }`. Writes nothing.
///
/// # Errors
/// `invalid_input` for a folder that cannot be read.
#[uniffi::export]
pub async fn import_skills(path: String) -> Result<String, KeelError> {
    run(async move {
        let work = move || skills::import_report(&PathBuf::from(path), |_, _| {});
        let report = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| keel::Error::Internal(e.to_string()))??;
        Ok(record(&report))
    })
    .await
}

/// Compiles a SKILL.md with an org context (`contextJson`) and documents; JSON
/// `{ content, contextHash }`.
///
/// # Errors
/// `invalid_skill` with its findings.
#[uniffi::export(default(documents_json = None))]
pub fn compile_skill(
    text: String,
    context_json: String,
    documents_json: Option<String>,
) -> Result<String, KeelError> {
    let context = value(Some(&context_json), "context")?.unwrap_or_default();
    let documents = value(documents_json.as_deref(), "documents")?.unwrap_or_default();
    Ok(record(&skills::compile_source(
        &text, &context, &documents,
    )?))
}

/// The namespaces a channel sees.
///
/// # Errors
/// `invalid_input` (field `channel`) for an unknown channel.
#[uniffi::export]
pub fn channel_namespaces(channel: String) -> Result<Vec<String>, KeelError> {
    let channel = Channel::parse(&channel)?;
    Ok(channel
        .namespaces()
        .iter()
        .map(|n| n.as_str().to_owned())
        .collect())
}

/// Told after each skill a sync handles, inline: return at once.
#[uniffi::export(with_foreign)]
pub trait SyncProgress: Send + Sync {
    /// `done` of `total` skills handled, the last one `key`.
    fn on_progress(&self, done: u32, total: u32, key: String);
}

/// The skills an org sees on a channel, compiled, with what was shadowed.
#[derive(uniffi::Object)]
pub struct ResolvedSkills {
    inner: Arc<skills::ResolvedSkills>,
}

#[uniffi::export]
impl ResolvedSkills {
    /// The org.
    pub fn org_id(&self) -> String {
        self.inner.org_id.to_string()
    }

    /// The channel.
    pub fn channel(&self) -> String {
        self.inner.channel.to_owned()
    }

    /// How many skills the channel sees.
    pub fn len(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    /// True when the channel sees none.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// What was shadowed and why, as JSON (`[{ key, reason, … }]`).
    pub fn shadowed(&self) -> String {
        record(&self.inner.shadowed)
    }

    /// The keys of the skills the channel sees, in order.
    pub fn keys(&self) -> Vec<String> {
        self.inner.skills.iter().map(|s| s.key.clone()).collect()
    }

    /// One skill as JSON, or null when the channel does not see it.
    pub fn get(&self, key: String) -> Option<String> {
        self.inner.get(&key).map(|s| record(&**s))
    }

    /// The content of `key` with its request-time expressions (`${deal.name}`, …) filled from
    /// `requestJson`.
    ///
    /// # Errors
    /// `invalid_skill` (a `template_value` finding) for a missing value; `invalid_input`
    /// (field `key`) when the channel does not see `key`.
    pub fn render(&self, key: String, request_json: String) -> Result<String, KeelError> {
        let request = value(Some(&request_json), "request")?.unwrap_or_default();
        Ok(self.inner.render(&key, &request)?)
    }

    /// The whole view as JSON (skills, shadowed, version).
    pub fn to_json(&self) -> String {
        record(&*self.inner)
    }
}

/// The skills registry; make it with `keel.skillRegistry()`.
#[derive(uniffi::Object)]
pub struct SkillRegistry {
    pub(crate) inner: skills::SkillRegistry,
}

#[uniffi::export]
impl Keel {
    /// Opens the skills registry (`optionsJson`: Node's `RegistryOptions`).
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::method(default(options_json = None))]
    pub async fn skill_registry(
        &self,
        options_json: Option<String>,
    ) -> Result<Arc<SkillRegistry>, KeelError> {
        let keel = self.inner.clone();
        let inner = run(async move {
            let options = options(options_json.as_deref(), "options")?;
            skills::SkillRegistry::open(&keel, options).await
        })
        .await?;
        Ok(Arc::new(SkillRegistry { inner }))
    }
}

impl SkillRegistry {
    async fn change(
        &self,
        org_id: String,
        key: String,
        change: keel::Result<OverrideChange>,
    ) -> Result<(), KeelError> {
        let registry = self.inner.clone();
        run(async move { registry.set_override(org(&org_id)?, &key, change?).await }).await
    }
}

#[uniffi::export]
impl SkillRegistry {
    /// Syncs a library folder: new content becomes the next version, one transaction per
    /// skill; idempotent. `optionsJson`: `dryRun`, `prune`, `force`. The report as JSON.
    ///
    /// # Errors
    /// `invalid_skill` (with its findings) when the folder does not validate: nothing is
    /// written then.
    #[uniffi::method(default(options_json = None, progress = None))]
    pub async fn sync(
        &self,
        path: String,
        options_json: Option<String>,
        progress: Option<Arc<dyn SyncProgress>>,
    ) -> Result<String, KeelError> {
        let registry = self.inner.clone();
        run(async move {
            let options: SyncOptions = options(options_json.as_deref(), "options")?;
            let report = registry
                .sync(&PathBuf::from(path), options, |done, total, item| {
                    if let Some(progress) = &progress {
                        let (done, total) = (done as u32, total as u32);
                        progress.on_progress(done, total, item.key.clone());
                    }
                })
                .await?;
            Ok(record(&report))
        })
        .await
    }

    /// Every skill with a current version, as JSON.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn list(&self) -> Result<String, KeelError> {
        let registry = self.inner.clone();
        run(async move { Ok(record(&registry.list().await?)) }).await
    }

    /// Turns a skill off (or on again) for an org.
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    pub async fn set_enabled(
        &self,
        org_id: String,
        key: String,
        enabled: bool,
    ) -> Result<(), KeelError> {
        self.change(org_id, key, Ok(OverrideChange::Enabled(enabled)))
            .await
    }

    /// Serves a stored version to an org (null follows the current version again).
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    #[uniffi::method(default(version = None))]
    pub async fn pin(
        &self,
        org_id: String,
        key: String,
        version: Option<u32>,
    ) -> Result<(), KeelError> {
        self.change(org_id, key, Ok(OverrideChange::Pin(version)))
            .await
    }

    /// Stores the context an org's skills compile with (`contextJson`).
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    pub async fn set_org_context(
        &self,
        org_id: String,
        context_json: String,
    ) -> Result<(), KeelError> {
        let registry = self.inner.clone();
        run(async move {
            let context = value(Some(&context_json), "context")?.unwrap_or_default();
            registry.set_org_context(org(&org_id)?, context).await
        })
        .await
    }

    /// The skills an org sees on a channel (web, slack, fleet, command_centre), compiled;
    /// cached per (org, channel) until a sync or an override changes them.
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    pub async fn resolve_skills(
        &self,
        org_id: String,
        channel: String,
    ) -> Result<Arc<ResolvedSkills>, KeelError> {
        let registry = self.inner.clone();
        let inner = run(async move {
            let (org, channel) = (org(&org_id)?, Channel::parse(&channel)?);
            registry.resolve_skills(org, channel).await
        })
        .await?;
        Ok(Arc::new(ResolvedSkills { inner }))
    }

    /// Drops every cached view.
    pub fn invalidate(&self) {
        self.inner.invalidate();
    }

    /// A message router over these skills (`optionsJson`: Node's `MessageRouterOptions`).
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::method(default(options_json = None))]
    pub fn message_router(
        &self,
        options_json: Option<String>,
    ) -> Result<Arc<crate::routing::MessageRouter>, KeelError> {
        self.message_router_with(options_json, None, None)
    }

    /// `messageRouter` with its model stages done by the host: `classifier` chooses among the
    /// top candidates when the index is not confident and the route allows it (`allowLlm`),
    /// `embedder` embeds the skills and the message for the embedding stage. An answer that
    /// is not one of the candidates, vectors of the wrong count or length, or a throw: the
    /// stage fails and the route falls through, uncached.
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::method(default(classifier = None, embedder = None))]
    pub fn message_router_with(
        &self,
        options_json: Option<String>,
        classifier: Option<Arc<dyn crate::host::ModelTask>>,
        embedder: Option<Arc<dyn crate::host::ModelTask>>,
    ) -> Result<Arc<crate::routing::MessageRouter>, KeelError> {
        let (classifier, embedder) = (task_model(classifier), task_model(embedder));
        self.router_over(options_json, classifier, embedder)
    }

    /// `messageRouter` with its model stages over Keel's own clients: `classifier` (its
    /// `copilot` feature resolved by the model router) chooses among the top candidates when
    /// the index is not confident and the route allows it (`allowLlm`); `embedder`'s
    /// embeddings (its default provider and model) serve the embedding stage.
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::method(default(classifier = None, embedder = None))]
    pub fn message_router_with_llm(
        &self,
        options_json: Option<String>,
        classifier: Option<Arc<crate::llm::Llm>>,
        embedder: Option<Arc<crate::llm::Llm>>,
    ) -> Result<Arc<crate::routing::MessageRouter>, KeelError> {
        let keel = |llm: Arc<crate::llm::Llm>| keel::llm::TaskModel::Llm(llm.inner.clone());
        self.router_over(options_json, classifier.map(keel), embedder.map(keel))
    }
}

impl SkillRegistry {
    /// A message router over these skills with the model stages given.
    fn router_over(
        &self,
        options_json: Option<String>,
        classifier: Option<keel::llm::TaskModel>,
        embedder: Option<keel::llm::TaskModel>,
    ) -> Result<Arc<crate::routing::MessageRouter>, KeelError> {
        let options = options(options_json.as_deref(), "options").map_err(KeelError::from)?;
        // The log writer starts on the runtime the router's routes run on.
        let inner = within(|| {
            keel::routing::MessageRouter::open(&self.inner, options)
                .map(|router| router.with_models(classifier, embedder))
        })?;
        Ok(Arc::new(crate::routing::MessageRouter { inner }))
    }
}
