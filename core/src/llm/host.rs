//! Model tasks the host does with its own models: a Python async callable or a JavaScript
//! async function as a [`Summarizer`], a [`Classifier`] or an [`Embedder`] ([`HostTask`]),
//! for platforms that already call their vendors' SDKs. Routing's model stages and compaction
//! take one where they take an [`super::Llm`].
//!
//! What the host receives and what its answer means live here, once: each binding only calls
//! the function with the JSON this module writes and hands back the JSON it answered.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use uuid::Uuid;

use super::embed::{EmbedRequest, Embeddings};
use super::tasks::{
    Classification, Classifier, ClassifyRequest, Embedder, Summarizer, Summary, SummaryRequest,
};
use super::transport::{TransportFailure, TransportFuture};
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::options::Case;

/// Who does a model task: Keel's own client, or a function of the host's.
#[derive(Clone)]
pub enum TaskModel {
    /// [`super::Llm`]: routed, budgeted, logged model calls.
    Llm(super::Llm),
    /// The host's function ([`HostTask`]).
    Host(HostTask),
}

impl TaskModel {
    /// The model as a [`Summarizer`].
    pub fn summarizer(self) -> Arc<dyn Summarizer> {
        match self {
            TaskModel::Llm(llm) => Arc::new(llm),
            TaskModel::Host(host) => Arc::new(host),
        }
    }

    /// The model as a [`Classifier`].
    pub fn classifier(self) -> Arc<dyn Classifier> {
        match self {
            TaskModel::Llm(llm) => Arc::new(llm),
            TaskModel::Host(host) => Arc::new(host),
        }
    }

    /// The model as an [`Embedder`].
    pub fn embedder(self) -> Arc<dyn Embedder> {
        match self {
            TaskModel::Llm(llm) => Arc::new(llm),
            TaskModel::Host(host) => Arc::new(host),
        }
    }
}

/// A host function: called with one JSON argument, it answers JSON or fails as a transport
/// does (its status, body, message and `Retry-After`).
pub trait HostFunction: Send + Sync {
    /// Calls the function with `argument`.
    fn call(&self, argument: Value) -> TransportFuture;
}

/// A host function doing a model task. It receives, spelt in the host's case:
/// - to summarize: `{text, instructions}` (instructions `null` when the caller gave none) and
///   answers the summary, as text or `{text}`;
/// - to classify: `{text, labels: [{name, description}], instructions}` and answers a label
///   name, or `{label, confidence}` (a name matched as a model's answer is, confidence 0 to 1);
/// - to embed: `{texts, model, dimensions}` and answers one vector per text, as a list or
///   `{vectors}`, every vector of one length.
///
/// A failure is the task's error (`provider`, `rate_limited` or `timeout` by its status, the
/// service named `host`); an answer that does not read is `provider` too.
#[derive(Clone)]
pub struct HostTask {
    function: Arc<dyn HostFunction>,
    case: Case,
}

impl HostTask {
    /// `function` as a task, its requests spelt in `case`.
    pub fn new(function: Arc<dyn HostFunction>, case: Case) -> Self {
        HostTask { function, case }
    }

    /// Calls the function with `argument` (keys in snake_case, respelt in the host's case).
    async fn ask(&self, task: &'static str, argument: Value) -> Result<Value> {
        let argument = crate::record::to_value(&argument, self.case);
        self.function
            .call(argument)
            .await
            .map_err(|failure| failed(task, failure))
    }
}

/// A host function's failure as the task's error.
fn failed(task: &'static str, failure: TransportFailure) -> Error {
    let retry_after_ms = failure
        .retry_after
        .as_deref()
        .and_then(super::http::parse_retry_after);
    let kind = match failure.status {
        None => FailureKind::ServerError,
        status => FailureKind::from_status(status),
    };
    Error::Service {
        service: "host",
        method: task.to_owned(),
        error: failure.message,
        kind,
        retry_after_ms,
    }
}

/// An answer that does not read as the task's.
fn unreadable(task: &'static str, why: impl Into<String>) -> Error {
    Error::Service {
        service: "host",
        method: task.to_owned(),
        error: why.into(),
        kind: FailureKind::ServerError,
        retry_after_ms: None,
    }
}

/// What a summary answer says: text, or `{text}`; not empty.
pub fn read_summary(answer: &Value) -> Result<String> {
    let text = match answer {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("text").and_then(Value::as_str),
        _ => None,
    };
    match text {
        Some(t) if !t.trim().is_empty() => Ok(t.to_owned()),
        Some(_) => Err(unreadable("summarize", "the summary is empty")),
        None => Err(unreadable(
            "summarize",
            "answer the summary as text or {text}",
        )),
    }
}

/// What a classification answer says: a label of `request` (matched as a model's answer
/// is) and its confidence (0 to 1).
pub fn read_classification(
    request: &ClassifyRequest,
    answer: &Value,
) -> Result<(String, Option<f64>)> {
    let (name, confidence) = match answer {
        Value::String(s) => (s.as_str(), None),
        Value::Object(o) => {
            let name = o.get("label").and_then(Value::as_str).unwrap_or_default();
            let confidence = match o.get("confidence") {
                None | Some(Value::Null) => None,
                Some(c) => match c.as_f64() {
                    Some(c) if (0.0..=1.0).contains(&c) => Some(c),
                    _ => return Err(unreadable("classify", "confidence must be 0 to 1")),
                },
            };
            (name, confidence)
        }
        _ => ("", None),
    };
    match request.read_answer(name) {
        Some((label, _)) => Ok((label, confidence)),
        None => Err(unreadable(
            "classify",
            format!("{name:?} is not one of the labels"),
        )),
    }
}

/// What an embedding answer says: one vector per text, of one length, finite.
pub fn read_vectors(texts: usize, answer: &Value) -> Result<Vec<Vec<f32>>> {
    let rows = match answer {
        Value::Array(rows) => rows,
        Value::Object(o) => match o.get("vectors") {
            Some(Value::Array(rows)) => rows,
            _ => {
                return Err(unreadable(
                    "embed",
                    "answer the vectors as a list or {vectors}",
                ));
            }
        },
        _ => {
            return Err(unreadable(
                "embed",
                "answer the vectors as a list or {vectors}",
            ));
        }
    };
    if rows.len() != texts {
        return Err(unreadable(
            "embed",
            format!("{} vectors for {texts} texts", rows.len()),
        ));
    }
    let mut vectors = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let numbers = row.as_array().map(Vec::as_slice).unwrap_or_default();
        let vector: Option<Vec<f32>> = numbers
            .iter()
            .map(|n| n.as_f64().filter(|f| f.is_finite()).map(|f| f as f32))
            .collect();
        match vector {
            Some(v) if !v.is_empty() => vectors.push(v),
            _ => {
                return Err(unreadable(
                    "embed",
                    format!("vector {i} is not a list of finite numbers"),
                ));
            }
        }
    }
    if vectors.iter().any(|v| v.len() != vectors[0].len()) {
        return Err(unreadable("embed", "the vectors are not of one length"));
    }
    Ok(vectors)
}

impl Summarizer for HostTask {
    fn summarize<'a>(&'a self, request: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>> {
        Box::pin(async move {
            let argument = json!({"text": request.text, "instructions": request.instructions});
            let answer = self.ask("summarize", argument).await?;
            Ok(Summary {
                text: read_summary(&answer)?,
                completion: None,
            })
        })
    }
}

impl Classifier for HostTask {
    fn classify<'a>(
        &'a self,
        request: &'a ClassifyRequest,
    ) -> BoxFuture<'a, Result<Classification>> {
        Box::pin(async move {
            let argument = json!({
                "text": request.text,
                "labels": request.labels,
                "instructions": request.instructions,
            });
            let answer = self.ask("classify", argument).await?;
            let (label, confidence) = read_classification(request, &answer)?;
            Ok(Classification {
                label,
                confidence,
                completion: None,
            })
        })
    }
}

impl Embedder for HostTask {
    fn embed<'a>(&'a self, request: &'a EmbedRequest) -> BoxFuture<'a, Result<Embeddings>> {
        Box::pin(async move {
            let argument = json!({
                "texts": request.texts,
                "model": request.model,
                "dimensions": request.dimensions,
            });
            let answer = self.ask("embed", argument).await?;
            let vectors = read_vectors(request.texts.len(), &answer)?;
            Ok(Embeddings {
                dimensions: vectors.first().map_or(0, Vec::len),
                vectors,
                provider: "host".to_owned(),
                model: request.model.clone().unwrap_or_else(|| "host".to_owned()),
                input_tokens: None,
                attempts: Vec::new(),
                trace_id: request.trace_id.unwrap_or_else(Uuid::new_v4),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{CallRequest, Label};

    fn labels() -> ClassifyRequest {
        ClassifyRequest {
            text: "how is the Globex deal going".into(),
            labels: ["deal-status", "none"]
                .map(|name| Label {
                    name: name.into(),
                    description: None,
                })
                .to_vec(),
            instructions: None,
            call: CallRequest::default(),
        }
    }

    #[test]
    fn a_summary_is_text_or_an_object_with_text() {
        assert_eq!(read_summary(&json!("Acme moved")).unwrap(), "Acme moved");
        assert_eq!(read_summary(&json!({"text": "Acme"})).unwrap(), "Acme");
        for bad in [json!("  "), json!({"summary": "x"}), json!(3), Value::Null] {
            let err = read_summary(&bad).unwrap_err();
            assert_eq!(err.code(), "provider", "{bad}: {err}");
        }
    }

    #[test]
    fn a_classification_names_one_of_the_labels() {
        let request = labels();
        let read = |v: Value| read_classification(&request, &v);
        assert_eq!(
            read(json!("Deal-Status")).unwrap(),
            ("deal-status".into(), None)
        );
        assert_eq!(
            read(json!({"label": "none", "confidence": 0.25})).unwrap(),
            ("none".into(), Some(0.25))
        );
        for bad in [
            json!("email-draft"),
            json!({"label": "deal-status", "confidence": 1.5}),
            json!({"confidence": 0.5}),
            json!(42),
        ] {
            assert_eq!(read(bad.clone()).unwrap_err().code(), "provider", "{bad}");
        }
    }

    #[test]
    fn vectors_are_one_per_text_of_one_length() {
        let two = read_vectors(2, &json!([[1, 0.5], [0, 2]])).unwrap();
        assert_eq!(two, vec![vec![1.0, 0.5], vec![0.0, 2.0]]);
        assert_eq!(
            read_vectors(1, &json!({"vectors": [[3]]})).unwrap(),
            vec![vec![3.0]]
        );
        for (n, bad) in [
            (2, json!([[1.0]])),
            (2, json!([[1.0], [1.0, 2.0]])),
            (1, json!([[]])),
            (1, json!([["x"]])),
            (1, json!({"embeddings": [[1.0]]})),
        ] {
            assert_eq!(
                read_vectors(n, &bad).unwrap_err().code(),
                "provider",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_failure_keeps_its_status_and_wait() {
        let failure = TransportFailure {
            status: Some(429),
            message: "slow down".into(),
            retry_after: Some("2".into()),
            ..TransportFailure::default()
        };
        let err = failed("classify", failure);
        assert_eq!(
            (err.code(), err.retry_after_ms()),
            ("rate_limited", Some(2000))
        );
        assert!(err.to_string().contains("slow down"), "{err}");
        let down = failed("embed", TransportFailure::default());
        assert_eq!(down.code(), "provider");
    }
}
