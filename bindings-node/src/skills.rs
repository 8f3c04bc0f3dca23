//! `Keel.skillRegistry`, `SkillRegistry`, `ResolvedSkills`, and the module functions
//! `parseSkill`, `validateSkills`, `importSkills`, `exportSkills`, `compileSkill`,
//! `channelNamespaces` (core: `keel::skills`).
//! Structured results are plain objects with camelCase keys; their types are in `types.d.ts`.

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, JsObjectValue, Object, ToNapiValue, TypeName, Unknown, ValidateNapiValue,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status, ValueType, sys};
use napi_derive::napi;
use serde_json::Value;

use keel::skills::{self, Channel, OverrideChange, SyncOptions};

use crate::error::{Answer, Arg, Outcome, guard, run, spawn};
use crate::json::{Json, Text};
use crate::models::org;
use crate::options::{options, record};
use crate::shared::Shared;

/// Parses one SKILL.md: `{ skill, diagnostics }` (skill is null when a finding is an error).
/// `{ portable: true }` adds what the Agent Skills reference validator rejects.
#[napi(
    ts_args_type = "text: string, folder?: string | null, file?: string | null, options?: SkillCheckOptions | null",
    ts_return_type = "ParsedSkill"
)]
pub fn parse_skill(
    Arg(text): Arg<String>,
    folder: Option<Arg<String>>,
    file: Option<Arg<String>>,
    options: Option<Json>,
) -> Outcome<Value> {
    let folder = folder.map(|v| v.0);
    let file = file.map(|v| v.0);
    guard(|| {
        let options = self::options(options, "options")?;
        let file = file.as_deref().unwrap_or("SKILL.md");
        Ok(record(&skills::parse_with(
            file,
            folder.as_deref(),
            text.as_bytes(),
            options,
        )))
    })
}

/// Runs `work` on a blocking thread and returns its record (file-system work off the loop).
async fn blocking<T: serde::Serialize + Send + 'static>(
    work: impl FnOnce() -> keel::Result<T> + Send + 'static,
) -> napi::Result<Outcome<Value>> {
    run!((), |_unit| {
        let value = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| keel::Error::Internal(e.to_string()))??;
        Ok(record(&value))
    })
}

/// Reads and validates a library folder in either layout: `{ skills, diagnostics }`.
/// `{ portable: true }` adds what the Agent Skills reference validator rejects.
#[napi(
    ts_args_type = "path: string, options?: (SkillCheckOptions & CallOptions) | null",
    ts_return_type = "Promise<ValidatedLibrary>"
)]
pub async fn validate_skills(
    Arg(path): Arg<String>,
    options: Option<Json>,
) -> napi::Result<Outcome<Value>> {
    let options = self::options::<skills::ParseOptions>(options, "options");
    blocking(move || skills::load_library_with(&PathBuf::from(path), options?, |_, _| {})).await
}

/// What a corpus in either layout gives Keel, file by file: `{ files, loads, warned, refused,
/// codes }`. Writes nothing.
#[napi(
    ts_args_type = "path: string, call?: CallOptions",
    ts_return_type = "Promise<ImportReport>"
)]
pub async fn import_skills(Arg(path): Arg<String>) -> napi::Result<Outcome<Value>> {
    blocking(move || skills::import_report(&PathBuf::from(path), |_, _| {})).await
}

/// Writes a portable copy of a library into `out`: `{ skills, files, changes, skipped,
/// diagnostics }`.
#[napi(
    ts_args_type = "path: string, out: string, call?: CallOptions",
    ts_return_type = "Promise<ExportReport>"
)]
pub async fn export_skills(
    Arg(path): Arg<String>,
    Arg(out): Arg<String>,
) -> napi::Result<Outcome<Value>> {
    blocking(move || skills::export_portable(&PathBuf::from(path), &PathBuf::from(out), |_, _| {}))
        .await
}

/// Compiles a SKILL.md with an org context: `{ content, contextHash }`.
#[napi(
    ts_args_type = "text: string, context: Record<string, any>, documents?: Record<string, Record<string, string>> | null",
    ts_return_type = "CompiledSkill"
)]
pub fn compile_skill(
    Arg(text): Arg<String>,
    Json(context): Json,
    documents: Option<Json>,
) -> Outcome<Value> {
    let documents = documents.map(|v| v.0);
    guard(|| {
        let documents = documents.unwrap_or(Value::Null);
        Ok(record(&skills::compile_source(
            &text, &context, &documents,
        )?))
    })
}

/// The namespaces a channel sees; throws `code: "invalid_input"` for an unknown channel.
#[napi(ts_args_type = "channel: string", ts_return_type = "string[]")]
pub fn channel_namespaces(Arg(channel): Arg<String>) -> Outcome<Vec<&'static str>> {
    guard(|| {
        Ok(Channel::parse(&channel)?
            .namespaces()
            .map(|n| n.as_str())
            .to_vec())
    })
}

/// Called after each skill a sync handles, with (done, total, key).
pub type SyncProgress =
    ThreadsafeFunction<FnArgs<(u32, u32, String)>, (), FnArgs<(u32, u32, String)>, Status, false>;

/// The options object of `SkillRegistry.sync`: the fields core reads (`dryRun`, `prune`,
/// `force`), and `onProgress`, a function, taken out of it.
#[derive(Default)]
pub struct SyncArgs(Option<Value>, Option<SyncProgress>);

impl FromNapiValue for SyncArgs {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: forwarded from napi with the same live env and value.
        let Json(mut fields) = unsafe { Json::from_napi_value(env, value) }?;
        let mut progress = None;
        if let Some(object) = fields.as_object_mut() {
            // JSON leaves functions out, so a present `onProgress` here is not a function.
            if object.remove("onProgress").is_some_and(|v| !v.is_null()) {
                let reason = "options.onProgress must be a function";
                Env::from_raw(env).throw_type_error(reason, Some("invalid_input"))?;
                return Err(napi::Error::new(Status::PendingException, reason));
            }
            // SAFETY: as above; an object argument, read as one.
            let object = unsafe { Object::from_napi_value(env, value) }?;
            if object.has_named_property("onProgress")? {
                let function = object.get_named_property::<Unknown>("onProgress")?;
                if function.get_type()? == ValueType::Function {
                    // SAFETY: a function value of this call.
                    progress = Some(unsafe { SyncProgress::from_napi_value(env, function.raw()) }?);
                }
            }
        }
        Ok(SyncArgs(Some(fields), progress))
    }
}

impl TypeName for SyncArgs {
    fn type_name() -> &'static str {
        "SyncSkillsOptions"
    }
    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

impl ValidateNapiValue for SyncArgs {}

/// What `resolveSkills(orgId, channel)` returns: the skills the channel sees, compiled, and
/// what was shadowed.
#[napi]
pub struct ResolvedSkills {
    inner: Arc<skills::ResolvedSkills>,
}

#[napi]
impl ResolvedSkills {
    #[napi(getter)]
    pub fn org_id(&self) -> String {
        self.inner.org_id.to_string()
    }

    #[napi(getter)]
    pub fn channel(&self) -> &'static str {
        self.inner.channel
    }

    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.inner.len() as u32
    }

    /// The keys of the skills the channel sees, in order.
    #[napi]
    pub fn keys(&self) -> Vec<String> {
        self.inner.skills.iter().map(|s| s.key.clone()).collect()
    }

    /// One skill, or null when the channel does not see it.
    #[napi(ts_args_type = "key: string", ts_return_type = "ResolvedSkill | null")]
    pub fn get(&self, Arg(key): Arg<String>) -> Option<Value> {
        self.inner.get(&key).map(|s| record(&**s))
    }

    /// The content of `key` with its request-time expressions (`${deal.name}`, …) filled from
    /// `request`; throws `code: "invalid_skill"` (a `template_value` finding) for a missing
    /// value, or `code: "invalid_input"` (field `key`) when the channel does not see `key`.
    #[napi(
        ts_args_type = "key: string, request: Record<string, any>",
        ts_return_type = "string"
    )]
    pub fn render(&self, Arg(key): Arg<String>, Json(request): Json) -> Outcome<String> {
        guard(|| self.inner.render(&key, &request))
    }

    /// Every skill the channel sees.
    #[napi(getter, ts_return_type = "ResolvedSkill[]")]
    pub fn skills(&self) -> Value {
        record(&self.inner.skills)
    }

    /// What was shadowed and why.
    #[napi(getter, ts_return_type = "Shadowed[]")]
    pub fn shadowed(&self) -> Value {
        record(&self.inner.shadowed)
    }

    #[napi(js_name = "toJSON", ts_return_type = "Record<string, any>")]
    pub fn to_record(&self) -> Value {
        record(&*self.inner)
    }
}

impl From<Arc<skills::ResolvedSkills>> for ResolvedSkills {
    fn from(inner: Arc<skills::ResolvedSkills>) -> Self {
        Self { inner }
    }
}

/// A view on its way to JavaScript: the same object for the same cached view
/// ([`crate::shared`]).
pub struct View(pub Arc<skills::ResolvedSkills>);

thread_local! {
    static VIEWS: std::cell::RefCell<Option<Shared<skills::ResolvedSkills>>> =
        const { std::cell::RefCell::new(None) };
}

impl ToNapiValue for View {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe {
            Shared::object(&VIEWS, env, val.0, |inner| {
                ResolvedSkills::to_napi_value(env, ResolvedSkills::from(inner.clone()))
            })
        }
    }
}

/// The skills registry; make it with `await db.skillRegistry()`.
#[napi]
pub struct SkillRegistry {
    inner: skills::SkillRegistry,
}

impl SkillRegistry {
    async fn change(
        &self,
        org_id: String,
        key: String,
        change: keel::Result<OverrideChange>,
    ) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| r
            .set_override(org(&org_id)?, &key, change?)
            .await)
    }
}

#[napi]
impl SkillRegistry {
    /// Syncs a library folder: new content becomes the next version, one transaction per skill.
    /// Idempotent. Rejects with `code: "invalid_skill"` (and `err.diagnostics`) when the folder
    /// does not validate; nothing is written then.
    #[napi(
        ts_args_type = "path: string, options?: SyncSkillsOptions | null, call?: CallOptions",
        ts_return_type = "Promise<SyncReport>"
    )]
    pub async fn sync(
        &self,
        Arg(path): Arg<String>,
        options: Option<SyncArgs>,
    ) -> napi::Result<Outcome<Value>> {
        let SyncArgs(options, progress) = options.unwrap_or_default();
        run!(self.inner, |r| {
            let options: SyncOptions = self::options(options.map(Json), "options")?;
            let report = r
                .sync(&PathBuf::from(path), options, |done, total, item| {
                    if let Some(progress) = &progress {
                        let args = (done as u32, total as u32, item.key.clone());
                        progress.call(args.into(), ThreadsafeFunctionCallMode::NonBlocking);
                    }
                })
                .await?;
            Ok(record(&report))
        })
    }

    /// Every skill with a current version.
    #[napi(
        ts_args_type = "call?: CallOptions",
        ts_return_type = "Promise<SkillSummary[]>"
    )]
    pub async fn list(&self) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| Ok(record(&r.list().await?)))
    }

    /// Every version of a skill, oldest first.
    #[napi(
        ts_args_type = "key: string, call?: CallOptions",
        ts_return_type = "Promise<VersionInfo[]>"
    )]
    pub async fn history(&self, Arg(key): Arg<String>) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| Ok(record(&r.history(&key).await?)))
    }

    /// Deprecates the current version; resolves to its number.
    #[napi(
        ts_args_type = "key: string, reason?: string | null, call?: CallOptions",
        ts_return_type = "Promise<number>"
    )]
    pub async fn deprecate(
        &self,
        Arg(key): Arg<String>,
        reason: Option<Arg<String>>,
    ) -> napi::Result<Outcome<u32>> {
        let reason = reason.map(|v| v.0);
        run!(self.inner, |r| r.deprecate(&key, reason.as_deref()).await)
    }

    /// Undoes a deprecation; resolves to the version.
    #[napi(
        ts_args_type = "key: string, call?: CallOptions",
        ts_return_type = "Promise<number>"
    )]
    pub async fn restore(&self, Arg(key): Arg<String>) -> napi::Result<Outcome<u32>> {
        run!(self.inner, |r| r.restore(&key).await)
    }

    /// Turns a skill off (or on again) for an org.
    #[napi(
        ts_args_type = "orgId: string, key: string, enabled: boolean, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn set_enabled(
        &self,
        Arg(org_id): Arg<String>,
        Arg(key): Arg<String>,
        Arg(enabled): Arg<bool>,
    ) -> napi::Result<Outcome<()>> {
        self.change(org_id, key, Ok(OverrideChange::Enabled(enabled)))
            .await
    }

    /// Serves a stored version to an org (`null` follows the current version again).
    #[napi(
        ts_args_type = "orgId: string, key: string, version?: number | null, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn pin(
        &self,
        Arg(org_id): Arg<String>,
        Arg(key): Arg<String>,
        version: Option<Arg<f64>>,
    ) -> napi::Result<Outcome<()>> {
        let version = version
            .map(|v| keel::options::whole("version", v.0))
            .transpose();
        self.change(org_id, key, version.map(OverrideChange::Pin))
            .await
    }

    /// Shows a skill in another namespace for an org (`null` uses its own).
    #[napi(
        ts_args_type = "orgId: string, key: string, namespace?: string | null, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn move_to(
        &self,
        Arg(org_id): Arg<String>,
        Arg(key): Arg<String>,
        namespace: Option<Arg<String>>,
    ) -> napi::Result<Outcome<()>> {
        let namespace = namespace.map(|v| v.0);
        let change = namespace
            .map(|n| n.parse())
            .transpose()
            .map(OverrideChange::Namespace);
        self.change(org_id, key, change).await
    }

    /// Serves the org's own SKILL.md for a key (`null` removes it). Rejects with
    /// `code: "invalid_skill"` when it does not validate.
    #[napi(
        ts_args_type = "orgId: string, key: string, skillMd?: string | null, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn replace(
        &self,
        Arg(org_id): Arg<String>,
        Arg(key): Arg<String>,
        skill_md: Option<Arg<String>>,
    ) -> napi::Result<Outcome<()>> {
        let skill_md = skill_md.map(|v| v.0);
        self.change(org_id, key, Ok(OverrideChange::Replace(skill_md)))
            .await
    }

    /// Stores the context an org's skills compile with.
    #[napi(
        ts_args_type = "orgId: string, context: Record<string, any>, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn set_org_context(
        &self,
        Arg(org_id): Arg<String>,
        Json(context): Json,
    ) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| r
            .set_org_context(org(&org_id)?, context)
            .await)
    }

    /// The context an org's skills compile with.
    #[napi(
        ts_args_type = "orgId: string, call?: CallOptions",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub async fn org_context(&self, Arg(org_id): Arg<String>) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| r.org_context(org(&org_id)?).await)
    }

    /// The skills an org sees on a channel (web, slack, fleet, command_centre), compiled, with
    /// the shadow report. Cached per (org, channel) until a sync or an override changes them; a
    /// cached view comes back in an already-resolved Promise.
    #[napi(
        ts_args_type = "orgId: string, channel: string, call?: CallOptions",
        ts_return_type = "Promise<ResolvedSkills>"
    )]
    pub fn resolve_skills(&self, env: Env, org_id: Text, channel: Text) -> Outcome<Answer<View>> {
        let wanted = org(org_id.as_str()).and_then(|o| Ok((o, Channel::parse(channel.as_str())?)));
        if let Ok((org, channel)) = wanted
            && let Some(inner) = self.inner.cached(org, channel)
        {
            return Outcome(Ok(Answer::Ready(View(inner))));
        }
        let registry = self.inner.clone();
        // Bad arguments reject the Promise, as every other error of this method does.
        Outcome(
            spawn(&env, async move {
                let (org, channel) = wanted?;
                Ok(View(registry.resolve_skills(org, channel).await?))
            })
            .map(Answer::Later),
        )
    }

    /// Drops every cached view.
    #[napi]
    pub fn invalidate(&self) {
        self.inner.invalidate();
    }

    /// A message router over these skills: `classifier` adds the LLM stage, `embedder` the
    /// embedding stage (each an `Llm`, or an async function of your own models).
    #[napi(
        ts_args_type = "options?: MessageRouterOptions | null, classifier?: Llm | ((task: HostClassifyTask) => unknown) | null, embedder?: Llm | ((task: HostEmbedTask) => unknown) | null",
        ts_return_type = "MessageRouter"
    )]
    pub fn message_router(
        &self,
        options: Option<Json>,
        classifier: Option<Arg<napi::bindgen_prelude::ClassInstance<'_, crate::llm::Llm>>>,
        embedder: Option<Arg<napi::bindgen_prelude::ClassInstance<'_, crate::llm::Llm>>>,
        classify: Option<crate::transport::SendFn>,
        embed: Option<crate::transport::SendFn>,
    ) -> Outcome<crate::routing::NewRouter> {
        crate::routing::open_router(
            &self.inner,
            options,
            (classifier, embedder),
            (classify, embed),
        )
    }
}

/// Opens the registry on `keel` (behind `Keel.skillRegistry`).
pub async fn open_registry(
    keel: keel::Keel,
    options: Option<Json>,
) -> napi::Result<Outcome<NewRegistry>> {
    run!(keel, |keel| {
        let options = self::options(options, "options")?;
        let inner = skills::SkillRegistry::open(&keel, options).await?;
        Ok(NewRegistry(SkillRegistry { inner }))
    })
}

/// A registry on its way to JavaScript, given its fast `cached` ([`crate::fast`]).
pub struct NewRegistry(SkillRegistry);

impl napi::bindgen_prelude::ToNapiValue for NewRegistry {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        let core = val.0.inner.clone();
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe { crate::fast::registry(env, SkillRegistry::to_napi_value(env, val.0)?, core) }
    }
}
