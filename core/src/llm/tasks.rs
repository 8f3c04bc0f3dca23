//! The model tasks later capabilities build on, as traits: a [`Summarizer`] (compaction,
//! thread summaries), a [`Classifier`] (routing's last stage, intents) and an [`Embedder`]
//! (recall, a skill index). [`Llm`] implements all three on [`Llm::complete`] and
//! [`Llm::embed`]; a platform with its own models implements them instead (from Python and
//! JS through the bindings).
//!
//! The prompts and the reading of a classifier's answer live here, once.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::call::Completion;
use super::client::Llm;
use super::embed::{EmbedRequest, Embeddings};
use super::request::CallRequest;
use super::wire::Fault;
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::models::Feature;
use crate::options::Case;

/// What a summary keeps when the request gives no instructions.
pub const SUMMARY_INSTRUCTIONS: &str = "Summarize the text for someone who will carry on the \
work it describes. Keep names, numbers, dates, decisions, commitments and open questions; drop \
greetings and repetition. Write plain prose in the text's language, at most 200 words.";

/// How a classifier is told to answer (after the list of labels).
pub const CLASSIFY_ANSWER: &str = "Answer with one JSON object and nothing else: \
{\"label\": \"<one of the labels>\", \"confidence\": <a number from 0 to 1>}";

/// Most reply tokens of a classification when the request names no limit.
pub const CLASSIFY_MAX_TOKENS: u32 = 100;

/// Summarizes text.
pub trait Summarizer: Send + Sync {
    /// A summary of `request.text`.
    fn summarize<'a>(&'a self, request: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>>;
}

/// Puts text under one of a set of labels.
pub trait Classifier: Send + Sync {
    /// The label of `request.text`.
    fn classify<'a>(
        &'a self,
        request: &'a ClassifyRequest,
    ) -> BoxFuture<'a, Result<Classification>>;
}

/// Turns texts into vectors.
pub trait Embedder: Send + Sync {
    /// One vector per text of `request.texts`, in order.
    fn embed<'a>(&'a self, request: &'a EmbedRequest) -> BoxFuture<'a, Result<Embeddings>>;
}

/// Text to summarize, and the call that does it.
#[derive(Debug, Clone)]
pub struct SummaryRequest {
    /// The text (a conversation written out, a thread, a document).
    pub text: String,
    /// What the summary keeps; [`SUMMARY_INSTRUCTIONS`] when absent.
    pub instructions: Option<String>,
    /// The feature or explicit model, org, trace, limits; its messages are ignored.
    pub call: CallRequest,
}

/// A summary and the call that wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The summary.
    pub text: String,
    /// The model call (who answered, usage, credits, attempts, trace).
    pub completion: Option<Completion>,
}

/// One label a classifier may choose.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The name the answer gives.
    pub name: String,
    /// What the label means, for the model.
    #[serde(default)]
    pub description: Option<String>,
}

/// Text to classify, the labels, and the call that does it.
#[derive(Debug, Clone)]
pub struct ClassifyRequest {
    /// The text.
    pub text: String,
    /// The labels, at least two, names unique.
    pub labels: Vec<Label>,
    /// What the labels are about (placed before them).
    pub instructions: Option<String>,
    /// The feature or explicit model, org, trace, limits; its messages are ignored.
    pub call: CallRequest,
}

/// The label chosen.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    /// One of the request's label names, as the request spells it.
    pub label: String,
    /// The model's own confidence, 0 to 1, when it gave one (uncalibrated).
    pub confidence: Option<f64>,
    /// The model call.
    pub completion: Option<Completion>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelRecord {
    Name(String),
    Full(Label),
}

/// Splits a task's own fields (`text`, `instructions`, and `labels` for a classification)
/// from the call's, which [`CallRequest::from_value`] checks with a user turn of the text.
fn task_fields(
    value: Value,
    case: Case,
    labels: bool,
) -> Result<(String, Option<String>, Option<Value>, CallRequest)> {
    let Value::Object(mut object) = value else {
        return Err(Error::invalid_input("options", "must be an object"));
    };
    for key in ["messages", "system", "tools"] {
        if object.contains_key(key) {
            return Err(Error::invalid_input(
                key,
                "is built from `text`; pass the text instead",
            ));
        }
    }
    let mut string = |key: &str| match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(case.invalid(key, "must be a string")),
    };
    let text = string("text")?.ok_or_else(|| case.invalid("text", "is required"))?;
    check_text(&text)?;
    let instructions = string("instructions")?;
    let labels = if labels {
        object.remove("labels")
    } else {
        None
    };
    object.insert(
        "messages".into(),
        json!([{"role": "user", "content": text}]),
    );
    let call = CallRequest::from_value(Value::Object(object), case)?;
    Ok((text, instructions, labels, call))
}

/// A task's text must say something.
fn check_text(text: &str) -> Result<()> {
    match text.trim().is_empty() {
        true => Err(Error::invalid_input("text", "must not be empty")),
        false => Ok(()),
    }
}

impl SummaryRequest {
    /// A request from the object a binding passes (`text`, `instructions`, and the fields of
    /// a [`CallRequest`] but its messages), checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field as `case` spells it.
    pub fn from_value(value: Value, case: Case) -> Result<Self> {
        let (text, instructions, _, call) = task_fields(value, case, false)?;
        Ok(Self {
            text,
            instructions,
            call,
        })
    }

    /// A summary of `text` by the model the router resolves for `feature`.
    pub fn new(feature: Feature, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            instructions: None,
            call: CallRequest {
                feature: Some(feature),
                ..CallRequest::default()
            },
        }
    }

    /// The model call: the instructions as system text, the text as the user turn.
    pub fn call_request(&self) -> CallRequest {
        let mut call = self.call.clone();
        call.system = Some(
            self.instructions
                .clone()
                .unwrap_or_else(|| SUMMARY_INSTRUCTIONS.to_owned()),
        );
        call.messages = vec![super::Message::user(self.text.clone())];
        call
    }
}

impl ClassifyRequest {
    /// A request from the object a binding passes (`text`, `labels` as names or
    /// `{name, description}` objects, `instructions`, and the fields of a [`CallRequest`] but
    /// its messages), checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field as `case` spells it: fewer than two labels, an
    /// empty or repeated name.
    pub fn from_value(value: Value, case: Case) -> Result<Self> {
        let (text, instructions, labels, call) = task_fields(value, case, true)?;
        let labels: Vec<LabelRecord> =
            crate::options::from_value(Some(json!({ "labels": labels })), case, "")
                .map(|w: Wrapper| w.labels)?;
        let labels = labels
            .into_iter()
            .map(|l| match l {
                LabelRecord::Name(name) => Label {
                    name,
                    description: None,
                },
                LabelRecord::Full(label) => label,
            })
            .collect();
        let request = Self {
            text,
            labels,
            instructions,
            call,
        };
        request.check()?;
        Ok(request)
    }

    /// The label of `text` among `labels` by the model the router resolves for `feature`.
    pub fn new<S: Into<String>>(
        feature: Feature,
        text: impl Into<String>,
        labels: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            text: text.into(),
            labels: labels
                .into_iter()
                .map(|name| Label {
                    name: name.into(),
                    description: None,
                })
                .collect(),
            instructions: None,
            call: CallRequest {
                feature: Some(feature),
                ..CallRequest::default()
            },
        }
    }

    /// Checks the text and the labels.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `text`, `labels` or `labels[i]`.
    pub fn check(&self) -> Result<()> {
        check_text(&self.text)?;
        if self.labels.len() < 2 {
            return Err(Error::invalid_input("labels", "needs at least two labels"));
        }
        for (i, label) in self.labels.iter().enumerate() {
            let name = label.name.trim();
            if name.is_empty() {
                return Err(Error::invalid_input(
                    format!("labels[{i}]"),
                    "must not be empty",
                ));
            }
            if self.labels[..i]
                .iter()
                .any(|l| l.name.trim().eq_ignore_ascii_case(name))
            {
                return Err(Error::invalid_input(
                    format!("labels[{i}]"),
                    format!("`{name}` is listed twice"),
                ));
            }
        }
        Ok(())
    }

    /// The model call: instructions, the labels and [`CLASSIFY_ANSWER`] as system text, the
    /// text as the user turn, temperature 0 and [`CLASSIFY_MAX_TOKENS`] unless the request
    /// says otherwise.
    pub fn call_request(&self) -> CallRequest {
        let mut system = String::new();
        if let Some(instructions) = &self.instructions {
            system.push_str(instructions);
            system.push_str("\n\n");
        }
        system.push_str("Classify the text under exactly one of these labels:\n");
        for label in &self.labels {
            match &label.description {
                Some(d) => system.push_str(&format!("- {}: {d}\n", label.name)),
                None => system.push_str(&format!("- {}\n", label.name)),
            }
        }
        system.push('\n');
        system.push_str(CLASSIFY_ANSWER);
        let mut call = self.call.clone();
        call.system = Some(system);
        call.messages = vec![super::Message::user(self.text.clone())];
        call.temperature = call.temperature.or(Some(0.0));
        call.max_tokens = call.max_tokens.or(Some(CLASSIFY_MAX_TOKENS));
        call
    }

    /// Reads a model's answer: a JSON object with `label` (and `confidence`) anywhere in it,
    /// else a bare label name; names match without regard to case or surrounding quotes.
    /// `None` when the answer names no label.
    pub fn read_answer(&self, answer: &str) -> Option<(String, Option<f64>)> {
        let find = |name: &str| {
            let name = name
                .trim()
                .trim_matches(|c| matches!(c, '"' | '\'' | '`' | '.'));
            self.labels
                .iter()
                .find(|l| l.name.trim().eq_ignore_ascii_case(name.trim()))
                .map(|l| l.name.clone())
        };
        let object = answer
            .find('{')
            .zip(answer.rfind('}'))
            .filter(|(start, end)| start < end)
            .and_then(|(start, end)| {
                serde_json::from_str::<Map<String, Value>>(&answer[start..=end]).ok()
            });
        if let Some(object) = object {
            let label = object.get("label").and_then(Value::as_str).and_then(find)?;
            let confidence = object
                .get("confidence")
                .and_then(Value::as_f64)
                .map(|c| c.clamp(0.0, 1.0));
            return Some((label, confidence));
        }
        find(answer).map(|label| (label, None))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wrapper {
    labels: Vec<LabelRecord>,
}

impl Llm {
    /// A summary of `request.text` by the model the request resolves to.
    ///
    /// # Errors
    /// As [`Llm::complete`].
    pub async fn summarize(&self, request: &SummaryRequest) -> Result<Summary> {
        check_text(&request.text)?;
        let completion = self.complete(&request.call_request()).await?;
        Ok(Summary {
            text: completion.text.trim().to_owned(),
            completion: Some(completion),
        })
    }

    /// The label of `request.text`, by the model the request resolves to.
    ///
    /// # Errors
    /// As [`Llm::complete`]; [`Error::Call`] (`provider`) when the answer names no label.
    pub async fn classify(&self, request: &ClassifyRequest) -> Result<Classification> {
        request.check()?;
        let completion = self.complete(&request.call_request()).await?;
        match request.read_answer(&completion.text) {
            Some((label, confidence)) => Ok(Classification {
                label,
                confidence,
                completion: Some(completion),
            }),
            None => {
                let mut answer: String = completion.text.chars().take(200).collect();
                if answer.len() < completion.text.len() {
                    answer.push('…');
                }
                let message = format!("the answer names none of the labels: {answer}");
                Err(Fault::new(FailureKind::ServerError, message).into_error(
                    completion.provider,
                    completion.model,
                    completion.attempts,
                ))
            }
        }
    }
}

impl Summarizer for Llm {
    fn summarize<'a>(&'a self, request: &'a SummaryRequest) -> BoxFuture<'a, Result<Summary>> {
        Box::pin(Llm::summarize(self, request))
    }
}

impl Classifier for Llm {
    fn classify<'a>(
        &'a self,
        request: &'a ClassifyRequest,
    ) -> BoxFuture<'a, Result<Classification>> {
        Box::pin(Llm::classify(self, request))
    }
}

impl Embedder for Llm {
    fn embed<'a>(&'a self, request: &'a EmbedRequest) -> BoxFuture<'a, Result<Embeddings>> {
        Box::pin(Llm::embed(self, request))
    }
}
