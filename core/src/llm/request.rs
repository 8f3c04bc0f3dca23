//! A call as a caller writes it, validated before any HTTP request: a feature (and optional
//! tier) for the router, or an explicit provider and model; the conversation; generation
//! settings; the ids that budget, trace and de-duplicate it.

use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use super::message::{Message, Part, Role, Tool};
use crate::error::{Error, Result};
use crate::models::{Feature, ModelRequest, Tier, canonical_provider};
use crate::options::{Case, de};
use crate::telemetry::inherit_traceparent;

/// One model call.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    /// The feature the router resolves; required unless `provider` and `model` are given.
    pub feature: Option<Feature>,
    /// The tier; the org's, else the router's default, when absent.
    pub tier: Option<Tier>,
    /// The org charged and whose routing applies.
    pub org_id: Option<Uuid>,
    /// The acting user.
    pub user_id: Option<Uuid>,
    /// The trace to join; a new one when absent.
    pub trace_id: Option<Uuid>,
    /// A W3C `traceparent` (the caller's span): the call's span nests under it, in its trace.
    pub traceparent: Option<String>,
    /// Charges once per (org, key): a retried call with the same key is not charged twice.
    pub idempotency_key: Option<String>,
    /// An explicit provider (with `model`), bypassing the router's choice.
    pub provider: Option<&'static str>,
    /// An explicit model id (with `provider`).
    pub model: Option<String>,
    /// Instructions, with the text of any `system` turns appended.
    pub system: Option<String>,
    /// The conversation: user, assistant and tool turns (never empty).
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<Tool>,
    /// Most tokens of the reply; the model's own limit when absent or larger.
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    pub temperature: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Per-attempt limit; the client's default when absent.
    pub attempt_timeout: Option<Duration>,
    /// Limit for the whole call, fallbacks included; the client's default when absent.
    pub deadline: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestRecord {
    #[serde(default, deserialize_with = "opt_parsed")]
    feature: Option<Feature>,
    #[serde(default, alias = "intelligence_tier", deserialize_with = "opt_parsed")]
    tier: Option<Tier>,
    #[serde(default, deserialize_with = "de::opt_uuid")]
    org_id: Option<Uuid>,
    #[serde(default, deserialize_with = "de::opt_uuid")]
    user_id: Option<Uuid>,
    #[serde(default, deserialize_with = "de::opt_uuid")]
    trace_id: Option<Uuid>,
    #[serde(default)]
    traceparent: Option<String>,
    /// The host application's current span, added by the bindings.
    #[serde(default)]
    host_traceparent: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    system: Option<String>,
    messages: Vec<Message>,
    #[serde(default)]
    tools: Vec<Tool>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    stop: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_secs")]
    attempt_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de::opt_secs")]
    deadline: Option<Duration>,
}

fn opt_parsed<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr<Err = Error>,
{
    de::parsed(d).map(Some)
}

impl CallRequest {
    /// A request from the object a binding passes (`feature`, `tier`, `org_id`, `messages`,
    /// `max_tokens`, …, spelt in `case`), validated.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field as `case` spells it.
    pub fn from_value(value: serde_json::Value, case: Case) -> Result<Self> {
        let r: RequestRecord = crate::options::from_value(Some(value), case, "")?;
        CallRequest {
            feature: r.feature,
            tier: r.tier,
            org_id: r.org_id,
            user_id: r.user_id,
            trace_id: r.trace_id,
            traceparent: inherit_traceparent(
                r.traceparent,
                r.trace_id.is_some(),
                r.host_traceparent,
            ),
            idempotency_key: r.idempotency_key,
            provider: r.provider.as_deref().map(canonical_provider).transpose()?,
            model: r.model,
            system: r.system,
            messages: r.messages,
            tools: r.tools,
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            stop: r.stop,
            attempt_timeout: r.attempt_timeout,
            deadline: r.deadline,
        }
        .validated()
        .map_err(|e| match e.field() {
            Some(field) if case == Case::Camel => case.invalid(field, e.message()),
            _ => e,
        })
    }
}

impl CallRequest {
    /// A request for `feature` with one user turn.
    pub fn new(feature: Feature, text: impl Into<String>) -> Self {
        Self {
            feature: Some(feature),
            messages: vec![Message::user(text)],
            ..Self::default()
        }
    }

    /// Checks the request and folds `system` turns into [`CallRequest::system`].
    ///
    /// # Errors
    /// As [`CallRequest::check`].
    pub fn validated(mut self) -> Result<Self> {
        self.check()?;
        if self.messages.iter().any(|m| m.role == Role::System) {
            let mut system: Vec<String> = self.system.take().into_iter().collect();
            let (instructions, turns) = std::mem::take(&mut self.messages)
                .into_iter()
                .partition::<Vec<_>, _>(|m| m.role == Role::System);
            system.extend(instructions.iter().map(Message::text));
            self.messages = turns;
            self.system = Some(system.join("\n\n"));
        }
        Ok(self)
    }

    /// Checks the request as written (fields name the caller's indexes).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: no feature and no explicit model, a
    /// conversation without a user, assistant or tool turn, a turn without content, an image
    /// without a source, `max_tokens` 0, a temperature outside 0 to 2, an empty idempotency
    /// key, a tool without a name, a zero timeout.
    pub fn check(&self) -> Result<()> {
        match (&self.feature, self.provider, &self.model) {
            (_, Some(_), Some(model)) if model.trim().is_empty() => {
                return Err(Error::invalid_input("model", "must not be empty"));
            }
            (_, Some(_), Some(_)) | (Some(_), None, None) => {}
            (_, Some(_), None) => {
                return Err(Error::invalid_input("model", "is required with `provider`"));
            }
            (_, None, Some(_)) => {
                return Err(Error::invalid_input("provider", "is required with `model`"));
            }
            (None, None, None) => {
                return Err(Error::invalid_input(
                    "feature",
                    "is required unless `provider` and `model` are given",
                ));
            }
        }
        for (i, m) in self.messages.iter().enumerate() {
            if m.content.is_empty() {
                return Err(Error::invalid_input(
                    format!("messages[{i}].content"),
                    "must not be empty",
                ));
            }
            for (j, part) in m.content.iter().enumerate() {
                check_part(part, m.role).map_err(|message| {
                    Error::invalid_input(format!("messages[{i}].content[{j}]"), message)
                })?;
            }
        }
        if self.messages.iter().all(|m| m.role == Role::System) {
            return Err(Error::invalid_input(
                "messages",
                "must hold at least one user turn",
            ));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::invalid_input("max_tokens", "must be at least 1"));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(Error::invalid_input(
                "temperature",
                format!("must be from 0 to 2, got {t}"),
            ));
        }
        if let Some(key) = &self.idempotency_key {
            crate::idents::idempotency_key("idempotency_key", key)?;
        }
        if let Some((i, _)) = self
            .tools
            .iter()
            .enumerate()
            .find(|(_, t)| t.name.trim().is_empty())
        {
            return Err(Error::invalid_input(
                format!("tools[{i}].name"),
                "must not be empty",
            ));
        }
        for (field, limit) in [
            ("attempt_timeout", self.attempt_timeout),
            ("deadline", self.deadline),
        ] {
            if limit.is_some_and(|d| d.is_zero()) {
                return Err(Error::invalid_input(field, "must be > 0"));
            }
        }
        Ok(())
    }

    /// The router's view of this request.
    pub fn model_request(&self) -> ModelRequest {
        ModelRequest {
            feature: self.feature,
            tier: self.tier,
            org_id: self.org_id,
            trace_id: self.trace_id,
        }
    }

    /// Whether the conversation ends on an assistant turn (a prefill some providers refuse).
    pub fn ends_with_assistant(&self) -> bool {
        self.messages
            .last()
            .is_some_and(|m| m.role == Role::Assistant)
    }
}

fn check_part(part: &Part, role: Role) -> std::result::Result<(), &'static str> {
    match part {
        Part::Image {
            url: None,
            data: None,
            ..
        } => Err("an image needs `url` or `data`"),
        Part::Image {
            data: Some(_),
            media_type: None,
            url: None,
        } => Err("an image given as `data` needs its `media_type`"),
        Part::ToolCall { .. } if role != Role::Assistant => {
            Err("tool calls belong in assistant turns")
        }
        Part::ToolResult { .. } if role != Role::Tool => Err("tool results belong in tool turns"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<CallRequest> {
        CallRequest::from_value(v, Case::Snake)
    }

    #[test]
    fn bad_requests_name_their_field() {
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": "x"}]}),
                "feature",
            ),
            (json!({"feature": "copilot", "messages": []}), "messages"),
            (
                json!({"feature": "copilot", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
                "max_tokens",
            ),
            (
                json!({"feature": "copilot", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"feature": "copilot", "messages": [{"role": "user", "content": "x"}], "temperature": 3}),
                "temperature",
            ),
            (
                json!({"provider": "nope", "model": "m", "messages": [{"role": "user", "content": "x"}]}),
                "provider",
            ),
            (
                json!({"provider": "openai", "messages": [{"role": "user", "content": "x"}]}),
                "model",
            ),
            (
                json!({"feature": "copilot", "messages": [{"role": "user", "content": [{"type": "image"}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"feature": "copilot", "messages": [{"role": "system", "content": "x"}]}),
                "messages",
            ),
            (
                json!({"feature": "copilot", "messages": [{"role": "user", "content": "x"}], "deadline": 0}),
                "deadline",
            ),
        ];
        for (input, field) in cases {
            let err = parse(input.clone()).unwrap_err();
            assert_eq!(
                (err.code(), err.field()),
                ("invalid_input", Some(field)),
                "{input}"
            );
        }
    }

    #[test]
    fn camel_case_requests_keep_the_callers_own_keys() {
        let r = CallRequest::from_value(
            json!({"feature": "copilot", "maxTokens": 5, "idempotencyKey": "k",
                "tools": [{"name": "f", "parameters": {"properties": {"maxRows": {"type": "integer"}}}}],
                "messages": [{"role": "user", "content": "q"},
                    {"role": "assistant", "content": [{"type": "tool_call", "id": "c", "name": "f", "arguments": {"maxRows": 2}}]},
                    {"role": "tool", "content": [{"type": "tool_result", "callId": "c", "content": "x", "isError": true}]}]}),
            Case::Camel,
        )
        .unwrap();
        assert_eq!(r.max_tokens, Some(5));
        assert_eq!(
            r.tools[0].parameters["properties"]["maxRows"]["type"],
            "integer"
        );
        assert!(
            matches!(&r.messages[1].content[0], Part::ToolCall { arguments, .. } if arguments["maxRows"] == 2)
        );
        assert!(matches!(
            &r.messages[2].content[0],
            Part::ToolResult { is_error: true, .. }
        ));
        let err = CallRequest::from_value(
            json!({"feature": "copilot", "maxTokens": 0,
            "messages": [{"role": "user", "content": "q"}]}),
            Case::Camel,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("maxTokens"));
    }

    #[test]
    fn system_turns_fold_into_the_system_text() {
        let r = parse(
            json!({"feature": "copilot", "system": "a", "provider": "gemini", "model": "g",
            "messages": [{"role": "system", "content": "b"}, {"role": "user", "content": "q"}]}),
        )
        .unwrap();
        assert_eq!(r.system.as_deref(), Some("a\n\nb"));
        assert_eq!(r.messages.len(), 1);
        assert_eq!(r.provider, Some("google"));
    }
}
