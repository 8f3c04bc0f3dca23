//! `Keel.skill_registry`, `SkillRegistry`, `ResolvedSkills`, `ResolvedSkill`, and the module
//! functions `parse_skill`, `validate_skills`, `import_skills`, `export_skills`,
//! `compile_skill`, `channel_namespaces` (core: `keel::skills`).

#[cfg(unix)]
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::skills::{self, Channel, OverrideChange, SkillRegistry, SyncOptions};

use crate::error::Arg;
use crate::json::{Json, dict_to_map, to_json};
use crate::models::org;
use crate::record::{options, record};
use crate::runtime::{awaitable, guard, ready};

/// A path argument as the OS takes it: anything `os.fspath` accepts, encoded by
/// `os.fsencode` (PyO3's own conversion panics on a lone surrogate that encoding refuses).
fn fs_path(path: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let os = path.py().import("os")?;
    let encoded = os
        .call_method1("fspath", (path,))
        .and_then(|p| os.call_method1("fsencode", (p,)))
        .and_then(|b| b.extract::<Vec<u8>>());
    #[cfg(unix)]
    let encoded = encoded.map(|bytes| PathBuf::from(std::ffi::OsString::from_vec(bytes)));
    #[cfg(not(unix))]
    let encoded = encoded.and_then(|bytes| {
        String::from_utf8(bytes)
            .map(PathBuf::from)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
    });
    match encoded {
        Ok(path) => Ok(path),
        Err(err) => guard(|| {
            Err(keel::Error::invalid_input(
                "path",
                format!("not a file system path: {err}"),
            ))
        }),
    }
}

/// Parses one SKILL.md: `{"skill": {...} | None, "diagnostics": [...]}`. `portable=True` adds
/// what the Agent Skills reference validator rejects.
#[pyfunction]
#[pyo3(signature = (text, folder = None, file = Arg("SKILL.md"), portable = Arg(false)), text_signature = "(text, folder=None, file='SKILL.md', portable=False)")]
pub fn parse_skill(
    py: Python<'_>,
    text: Arg<&str>,
    folder: Option<Arg<&str>>,
    file: Arg<&str>,
    portable: Arg<bool>,
) -> Json {
    let options = skills::ParseOptions {
        portable: portable.0,
    };
    py.detach(|| {
        Json::of(&skills::parse_with(
            file.0,
            Arg::opt(folder),
            text.0.as_bytes(),
            options,
        ))
    })
}

/// Reads and validates a library folder in either layout: `{"skills": [...], "diagnostics":
/// [...]}`. `portable=True` adds what the Agent Skills reference validator rejects.
#[pyfunction]
#[pyo3(signature = (path, portable = Arg(false)), text_signature = "(path, portable=False)")]
pub fn validate_skills(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    portable: Arg<bool>,
) -> PyResult<Json> {
    let path = fs_path(path)?;
    let options = skills::ParseOptions {
        portable: portable.0,
    };
    py.detach(|| {
        guard(|| {
            let library = skills::load_library_with(&path, options, |_, _| {})?;
            Ok(Json::of(&library))
        })
    })
}

/// What a corpus in either layout gives Keel, file by file: `{"files": [...], "loads",
/// "warned", "refused", "codes"}`. Writes nothing.
#[pyfunction]
pub fn import_skills(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Json> {
    let path = fs_path(path)?;
    py.detach(|| guard(|| Ok(Json::of(&skills::import_report(&path, |_, _| {})?))))
}

/// Writes a portable copy of a library into `out`: `{"skills", "files", "changes",
/// "skipped", "diagnostics"}`.
#[pyfunction]
pub fn export_skills(
    py: Python<'_>,
    path: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<Json> {
    let (path, out) = (fs_path(path)?, fs_path(out)?);
    py.detach(|| guard(|| Ok(Json::of(&skills::export_portable(&path, &out, |_, _| {})?))))
}

/// Compiles a SKILL.md with a context: `{"content": ..., "context_hash": ...}`.
#[pyfunction]
#[pyo3(signature = (text, context, documents = None))]
pub fn compile_skill(
    text: Arg<&str>,
    context: &Bound<'_, PyAny>,
    documents: Option<&Bound<'_, PyAny>>,
) -> PyResult<Json> {
    let context = to_json(context, 0);
    let documents = documents.map_or(serde_json::Value::Null, |d| to_json(d, 0));
    guard(|| {
        Ok(Json::of(&skills::compile_source(
            text.0, &context, &documents,
        )?))
    })
}

/// The namespaces a channel sees.
#[pyfunction]
pub fn channel_namespaces(channel: Arg<&str>) -> PyResult<Vec<&'static str>> {
    guard(|| {
        Ok(Channel::parse(channel.0)?
            .namespaces()
            .map(|n| n.as_str())
            .to_vec())
    })
}

record! {
    /// One skill as an org sees it.
    PyResolvedSkill(Arc<skills::ResolvedSkill>) as "ResolvedSkill" {
        key: String => "The skill key (its folder name).",
        version: Option<u32> => "The platform version served, or None for an org's own skill.",
        content_hash: String => "SHA-256 of the SKILL.md and its documents: the version's identity.",
        context_hash: String => "SHA-256 of the org context this was compiled with.",
    } {
        /// Where it is shown: `copilot`, `slack`, `fleet` or `shared`.
        #[getter]
        fn namespace(&self) -> &'static str {
            self.0.namespace.as_str()
        }

        /// `platform` (a synced version) or `org` (the org's own SKILL.md).
        #[getter]
        fn source(&self) -> &'static str {
            self.0.source.as_str()
        }

        /// The text compiled for the org: context block, body, inlined documents.
        #[getter]
        fn content(&self) -> &str {
            &self.0.content
        }

        /// The frontmatter's description.
        #[getter]
        fn description(&self) -> &str {
            &self.0.doc.description
        }

        /// Every frontmatter field (triggers, keywords, priority, …) and the template body.
        #[getter]
        fn frontmatter(&self) -> Json {
            Json::of(&self.0.doc)
        }

        /// Whether `content` still has expressions for request time.
        #[getter]
        fn needs_request(&self) -> bool {
            self.0.needs_request()
        }

        /// The content with request-time expressions (`${deal.name}`, …) filled from `request`.
        #[pyo3(signature = (request = None))]
        fn render(&self, request: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
            let request = request.map_or(serde_json::Value::Null, |r| to_json(r, 0));
            guard(|| self.0.render(&request))
        }

        /// Every field as a dict (JSON types).
        fn to_dict(&self) -> Json {
            Json::of(&*self.0)
        }
    }
}

/// What `resolve_skills(org_id, channel)` returns.
#[pyclass(frozen, name = "ResolvedSkills", module = "keel._native")]
pub struct PyResolvedSkills {
    inner: Arc<skills::ResolvedSkills>,
}

fn skill(inner: &Arc<skills::ResolvedSkill>) -> PyResolvedSkill {
    PyResolvedSkill(inner.clone())
}

#[pymethods]
impl PyResolvedSkills {
    /// The org the view is for.
    #[getter]
    fn org_id(&self) -> String {
        self.inner.org_id.to_string()
    }

    /// The channel: `web`, `slack`, `fleet` or `command_centre`.
    #[getter]
    fn channel(&self) -> &'static str {
        self.inner.channel
    }

    /// Every skill the channel sees, by key.
    #[getter]
    fn skills(&self) -> Vec<PyResolvedSkill> {
        self.inner.skills.iter().map(skill).collect()
    }

    /// What the org does not see where it otherwise would, and why (a list of dicts with
    /// `key`, `namespace`, `version`, `reason` and `detail`). `compile_failed` and
    /// `replacement_failed` are failures; the other reasons are choices.
    #[getter]
    fn shadowed(&self) -> Json {
        Json::of(&self.inner.shadowed)
    }

    /// The keys of the skills the channel sees, in order.
    fn keys(&self) -> Vec<&str> {
        self.inner.skills.iter().map(|s| s.key.as_str()).collect()
    }

    /// One skill, or None when the channel does not see `key`.
    fn get(&self, key: Arg<&str>) -> Option<PyResolvedSkill> {
        self.inner.get(key.0).map(skill)
    }

    /// The content of `key` with its request-time expressions filled from `request`, as Node's
    /// `view.render(key, request)`. Raises `InvalidSkillError` (a `template_value` finding) for a
    /// missing value, or `InvalidInputError` (field `key`) when the channel does not see `key`.
    #[pyo3(signature = (key, request = None))]
    fn render(&self, key: Arg<&str>, request: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
        let request = request.map_or(serde_json::Value::Null, |r| to_json(r, 0));
        guard(|| self.inner.render(key.0, &request))
    }

    /// The view as a dict (JSON types).
    fn to_dict(&self) -> Json {
        Json::of(&*self.inner)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, key: Arg<&str>) -> bool {
        self.inner.get(key.0).is_some()
    }

    fn __repr__(&self) -> String {
        format!(
            "ResolvedSkills(org_id={}, channel={}, skills={}, shadowed={})",
            self.inner.org_id,
            self.inner.channel,
            self.inner.len(),
            self.inner.shadowed.len()
        )
    }
}

/// The skills registry; make it with `await db.skill_registry()`.
#[pyclass(frozen, name = "SkillRegistry", module = "keel._native")]
pub struct PySkillRegistry {
    inner: SkillRegistry,
}

impl PySkillRegistry {
    fn change<'py>(
        &self,
        py: Python<'py>,
        org_id: &str,
        key: String,
        change: keel::Result<OverrideChange>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, change) = guard(|| Ok((org(org_id)?, change?)))?;
        awaitable!(py, self.inner, |r| r.set_override(org, &key, change).await)
    }
}

#[pymethods]
impl PySkillRegistry {
    /// Syncs a library folder (awaitable): new content becomes the next version, one
    /// transaction per skill. Idempotent. Raises `InvalidSkillError` (with `diagnostics`) when a
    /// file does not validate, unless `force`, which skips those files and lists them in
    /// `skipped`. `progress(done, total, key)` is called after each skill.
    #[pyo3(
        signature = (path, *, dry_run = Arg(false), prune = Arg(false), force = Arg(false), progress = None),
        text_signature = "($self, path, *, dry_run=False, prune=False, force=False, progress=None)"
    )]
    fn sync<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
        dry_run: Arg<bool>,
        prune: Arg<bool>,
        force: Arg<bool>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = fs_path(path)?;
        awaitable!(py, self.inner, |r| {
            let report = r
                .sync(
                    &path,
                    SyncOptions {
                        dry_run: dry_run.0,
                        prune: prune.0,
                        force: force.0,
                    },
                    |done, total, item| {
                        if let Some(callback) = &progress {
                            Python::attach(|py| {
                                if let Err(err) =
                                    callback.call1(py, (done, total, item.key.as_str()))
                                {
                                    err.write_unraisable(py, Some(callback.bind(py)));
                                }
                            });
                        }
                    },
                )
                .await?;
            Ok(Json::of(&report))
        })
    }

    /// Every skill with a current version (awaitable).
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| Ok(Json::of(&r.list().await?)))
    }

    /// Every version of `key`, oldest first (awaitable).
    fn history<'py>(&self, py: Python<'py>, key: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| Ok(Json::of(&r.history(&key.0).await?)))
    }

    /// Deprecates the current version of `key` (awaitable; resolves to its number).
    #[pyo3(signature = (key, reason = None))]
    fn deprecate<'py>(
        &self,
        py: Python<'py>,
        key: Arg<String>,
        reason: Option<Arg<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| r
            .deprecate(&key.0, Arg::opt_str(&reason))
            .await)
    }

    /// Undoes a deprecation (awaitable; resolves to the version).
    fn restore<'py>(&self, py: Python<'py>, key: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| r.restore(&key.0).await)
    }

    /// Turns `key` off (False) or on again for an org (awaitable).
    fn set_enabled<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        key: Arg<String>,
        enabled: Arg<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.change(py, org_id.0, key.0, Ok(OverrideChange::Enabled(enabled.0)))
    }

    /// Serves a stored version of `key` to an org; None follows the current version again
    /// (awaitable).
    #[pyo3(signature = (org_id, key, version))]
    fn pin<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        key: Arg<String>,
        version: Option<Arg<u32>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.change(
            py,
            org_id.0,
            key.0,
            Ok(OverrideChange::Pin(Arg::opt(version))),
        )
    }

    /// Shows `key` in another namespace for an org; None uses its own (awaitable).
    #[pyo3(signature = (org_id, key, namespace))]
    fn move_to<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        key: Arg<String>,
        namespace: Option<Arg<&str>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let namespace = Arg::opt(namespace).map(str::parse).transpose();
        self.change(
            py,
            org_id.0,
            key.0,
            namespace.map(OverrideChange::Namespace),
        )
    }

    /// Serves the org's own SKILL.md for `key`; None removes it (awaitable). Raises
    /// `InvalidSkillError` when it does not validate or does not compile with the org's context.
    #[pyo3(signature = (org_id, key, skill_md))]
    fn replace<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        key: Arg<String>,
        skill_md: Option<Arg<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.change(
            py,
            org_id.0,
            key.0,
            Ok(OverrideChange::Replace(Arg::opt(skill_md))),
        )
    }

    /// Stores the context an org's skills compile with (awaitable).
    fn set_org_context<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        context: Arg<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id.0))?;
        let context = serde_json::Value::Object(dict_to_map(&context.0, 0));
        awaitable!(py, self.inner, |r| r.set_org_context(org, context).await)
    }

    /// The context an org's skills compile with (awaitable).
    fn org_context<'py>(&self, py: Python<'py>, org_id: Arg<&str>) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id.0))?;
        awaitable!(py, self.inner, |r| Ok(Json(r.org_context(org).await?)))
    }

    /// The skills an org sees on a channel, compiled, with the shadow report (awaitable).
    /// Cached per (org, channel) until a sync, an override or a context change.
    fn resolve_skills<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        channel: Arg<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, channel) = guard(|| Ok((org(org_id.0)?, Channel::parse(channel.0)?)))?;
        if let Some(inner) = self.inner.cached(org, channel) {
            return ready(py, PyResolvedSkills { inner });
        }
        awaitable!(py, self.inner, |r| Ok(PyResolvedSkills {
            inner: r.resolve_skills(org, channel).await?
        }))
    }

    /// The cached view, or None; never waits (for hot paths that may fall back to awaiting).
    fn cached(&self, org_id: Arg<&str>, channel: Arg<&str>) -> PyResult<Option<PyResolvedSkills>> {
        let (org, channel) = guard(|| Ok((org(org_id.0)?, Channel::parse(channel.0)?)))?;
        Ok(self
            .inner
            .cached(org, channel)
            .map(|inner| PyResolvedSkills { inner }))
    }

    /// Drops every cached view.
    fn invalidate(&self) {
        self.inner.invalidate();
    }

    /// A message router over these skills: `classifier` adds the LLM stage, `embedder` the
    /// embedding stage (each a `keel.Llm`, or an async callable of your own models); options
    /// as `keel.types.MessageRouterOptions`.
    #[pyo3(signature = (*, classifier = None, embedder = None, **options))]
    fn message_router<'py>(
        &self,
        classifier: Option<&Bound<'py, PyAny>>,
        embedder: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<crate::routing::PyMessageRouter> {
        crate::routing::open_router(&self.inner, classifier, embedder, options)
    }
}

/// Opens the registry on `keel` (the awaitable behind `Keel.skill_registry`).
pub fn open_registry<'py>(
    py: Python<'py>,
    keel: &keel::Keel,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = guard(|| options(kwargs))?;
    awaitable!(py, keel, |keel| Ok(PySkillRegistry {
        inner: SkillRegistry::open(&keel, options).await?,
    }))
}

/// Adds this module's classes and functions to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySkillRegistry>()?;
    m.add_class::<PyResolvedSkills>()?;
    m.add_class::<PyResolvedSkill>()?;
    m.add_function(wrap_pyfunction!(parse_skill, m)?)?;
    m.add_function(wrap_pyfunction!(validate_skills, m)?)?;
    m.add_function(wrap_pyfunction!(import_skills, m)?)?;
    m.add_function(wrap_pyfunction!(export_skills, m)?)?;
    m.add_function(wrap_pyfunction!(compile_skill, m)?)?;
    m.add_function(wrap_pyfunction!(channel_namespaces, m)?)
}
