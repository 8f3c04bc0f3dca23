//! Embeddings: [`Llm::embed`] through the OpenAI-compatible `POST {base}/embeddings` (OpenAI,
//! OpenRouter, vLLM, Ollama) and Gemini's `batchEmbedContents`, in batches the provider
//! accepts, with one span per call. Anthropic has no embeddings endpoint.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::client::Llm;
use super::http;
use super::options::Endpoint;
use super::transport::{self, TransportRequest};
use super::wire::{Fault, Wire, count_at};
use crate::error::{Error, Result};
use crate::fault::Attempt;
use crate::models::canonical_provider;
use crate::options::{Case, de};
use crate::telemetry::gen_ai;

/// The provider of a request that names none.
pub const DEFAULT_EMBEDDING_PROVIDER: &str = "openai";

/// Most texts in one OpenAI-compatible request (OpenAI's documented limit).
const OPENAI_BATCH: usize = 2048;
/// Most texts in one Gemini `batchEmbedContents` request.
const GEMINI_BATCH: usize = 100;

/// The embedding model of a request that names none, by provider.
pub fn default_embedding_model(provider: &str) -> Option<&'static str> {
    match provider {
        "openai" => Some("text-embedding-3-small"),
        "openrouter" => Some("openai/text-embedding-3-small"),
        "google" => Some("gemini-embedding-001"),
        _ => None,
    }
}

/// Texts to embed.
#[derive(Debug, Clone, Default)]
pub struct EmbedRequest {
    /// The texts, one vector each, in order (none empty).
    pub texts: Vec<String>,
    /// `openai`, `openrouter` or `google`; [`DEFAULT_EMBEDDING_PROVIDER`] when absent.
    pub provider: Option<&'static str>,
    /// The model; [`default_embedding_model`] of the provider when absent.
    pub model: Option<String>,
    /// Shorter vectors, for models that can truncate (`text-embedding-3-*`, Gemini).
    pub dimensions: Option<u32>,
    /// The org the call is logged under.
    pub org_id: Option<Uuid>,
    /// The acting user.
    pub user_id: Option<Uuid>,
    /// The trace to join; a new one when absent.
    pub trace_id: Option<Uuid>,
    /// A W3C `traceparent`: the call's span nests under it.
    pub traceparent: Option<String>,
    /// Limit for each batch's request; the client's `attempt_timeout` when absent.
    pub timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedRecord {
    texts: Vec<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    dimensions: Option<u32>,
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
    #[serde(default, deserialize_with = "de::opt_secs")]
    timeout: Option<Duration>,
}

impl EmbedRequest {
    /// A request for `texts` with the default provider and model.
    pub fn new<S: Into<String>>(texts: impl IntoIterator<Item = S>) -> Self {
        Self {
            texts: texts.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// A request from the object a binding passes (`texts`, `provider`, `model`,
    /// `dimensions`, `org_id`, …, spelt in `case`), checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field as `case` spells it.
    pub fn from_value(value: Value, case: Case) -> Result<Self> {
        let r: EmbedRecord = crate::options::from_value(Some(value), case, "")?;
        let request = EmbedRequest {
            texts: r.texts,
            provider: r.provider.as_deref().map(canonical_provider).transpose()?,
            model: r.model,
            dimensions: r.dimensions,
            org_id: r.org_id,
            user_id: r.user_id,
            trace_id: r.trace_id,
            traceparent: crate::telemetry::inherit_traceparent(
                r.traceparent,
                r.trace_id.is_some(),
                r.host_traceparent,
            ),
            timeout: r.timeout,
        };
        request.target().map_err(|e| match e.field() {
            Some(field) => case.invalid(field, e.message()),
            None => e,
        })?;
        Ok(request)
    }

    /// The provider and model this request goes to, once checked.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: no texts, an empty text, `dimensions` 0, an
    /// empty model, a provider without an embeddings endpoint or without a default model.
    pub fn target(&self) -> Result<(&'static str, &str)> {
        if self.texts.is_empty() {
            return Err(Error::invalid_input("texts", "must not be empty"));
        }
        if let Some(i) = self.texts.iter().position(|t| t.trim().is_empty()) {
            return Err(Error::invalid_input(
                format!("texts[{i}]"),
                "must not be empty",
            ));
        }
        if self.dimensions == Some(0) {
            return Err(Error::invalid_input("dimensions", "must be at least 1"));
        }
        let provider = self.provider.unwrap_or(DEFAULT_EMBEDDING_PROVIDER);
        if Wire::of(provider) == Some(Wire::Anthropic) {
            return Err(Error::invalid_input(
                "provider",
                "Anthropic has no embeddings endpoint: use openai, openrouter or google",
            ));
        }
        let model = match (&self.model, default_embedding_model(provider)) {
            (Some(model), _) if model.trim().is_empty() => {
                return Err(Error::invalid_input("model", "must not be empty"));
            }
            (Some(model), _) => model.as_str(),
            (None, Some(model)) => model,
            (None, None) => {
                return Err(Error::invalid_input(
                    "model",
                    format!("is required for `{provider}`"),
                ));
            }
        };
        Ok((provider, model))
    }
}

/// One vector per text, in the request's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embeddings {
    /// The vectors.
    pub vectors: Vec<Vec<f32>>,
    /// Their length.
    pub dimensions: usize,
    /// The provider called.
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// Prompt tokens, when the provider reports them (Gemini's batch endpoint does not).
    pub input_tokens: Option<u64>,
    /// One attempt per batch.
    pub attempts: Vec<Attempt>,
    /// The call's trace.
    pub trace_id: Uuid,
}

impl Llm {
    /// Embeds `request.texts`, in batches the provider accepts (one after the other), and
    /// writes a `gen_ai.embeddings` span.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] before any request (see [`EmbedRequest::target`], a provider
    /// without a key); [`Error::Call`] with the attempts made when a batch fails, or when a
    /// reply has not one vector per text of one length.
    pub async fn embed(&self, request: &EmbedRequest) -> Result<Embeddings> {
        let (provider, model) = request.target()?;
        let endpoint = self.endpoint(provider)?;
        let (trace_id, logger) = self.call_logger(
            request.traceparent.as_ref(),
            request.trace_id,
            request.org_id,
            request.user_id,
        );
        let mut start = Map::new();
        start.insert(gen_ai::OPERATION_NAME.into(), "embeddings".into());
        start.insert(
            gen_ai::PROVIDER_NAME.into(),
            endpoint.wire.otel_name(provider).into(),
        );
        start.insert(gen_ai::REQUEST_MODEL.into(), model.into());
        start.insert("keel.texts".into(), request.texts.len().into());
        let span = logger.span("gen_ai.embeddings", start, None);
        let limit = request.timeout.unwrap_or(self.options().attempt_timeout);
        let batch = match endpoint.wire {
            Wire::Gemini => GEMINI_BATCH,
            _ => OPENAI_BATCH,
        };
        let mut out = Embeddings {
            vectors: Vec::with_capacity(request.texts.len()),
            dimensions: 0,
            provider: provider.to_owned(),
            model: model.to_owned(),
            input_tokens: None,
            attempts: Vec::new(),
            trace_id,
        };
        for texts in request.texts.chunks(batch) {
            let started = Instant::now();
            let batch = self.embed_batch(endpoint, model, texts, request.dimensions);
            let result = http::within(limit, batch)
                .await
                .and_then(|batch| checked(batch, texts.len(), out.dimensions));
            let (outcome, status) = match &result {
                Ok(_) => ("ok".to_owned(), Some(200)),
                Err(fault) => (fault.kind.as_str().to_owned(), fault.status),
            };
            out.attempts.push(Attempt {
                provider: provider.to_owned(),
                model: model.to_owned(),
                outcome,
                status,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                retry_after_ms: result.as_ref().err().and_then(|f| f.retry_after_ms),
            });
            match result {
                Ok((vectors, tokens)) => {
                    out.dimensions = vectors[0].len();
                    out.vectors.extend(vectors);
                    if let Some(tokens) = tokens {
                        *out.input_tokens.get_or_insert(0) += tokens;
                    }
                }
                Err(fault) => {
                    let mut extra = Map::new();
                    extra.insert("error.type".into(), fault.kind.as_str().into());
                    span.fail(&fault.message, extra);
                    return Err(fault.into_error(
                        provider.to_owned(),
                        model.to_owned(),
                        out.attempts,
                    ));
                }
            }
        }
        let mut end = Map::new();
        if let Some(tokens) = out.input_tokens {
            end.insert(gen_ai::USAGE_INPUT_TOKENS.into(), tokens.into());
        }
        end.insert("keel.dimensions".into(), out.dimensions.into());
        span.stop(end);
        Ok(out)
    }

    async fn embed_batch(
        &self,
        endpoint: &Endpoint,
        model: &str,
        texts: &[String],
        dimensions: Option<u32>,
    ) -> Result<Batch, Fault> {
        let (url, body) = match endpoint.wire {
            Wire::Gemini => (
                format!(
                    "{}/v1beta/models/{model}:batchEmbedContents",
                    endpoint.base_url
                ),
                gemini_body(model, texts, dimensions),
            ),
            _ => (
                format!("{}/embeddings", endpoint.base_url),
                openai_body(model, texts, dimensions),
            ),
        };
        let read = |body: &Value| match endpoint.wire {
            Wire::Gemini => gemini_reply(body),
            _ => openai_reply(body),
        };
        if let Some(transport) = &endpoint.transport {
            let request = TransportRequest {
                provider: endpoint.provider.to_owned(),
                model: model.to_owned(),
                operation: "embeddings",
                body,
            };
            return transport::send(transport, endpoint.wire, request, |body| {
                read(body).ok_or_else(|| Fault::malformed("the reply has no embeddings"))
            })
            .await;
        }
        let builder = http::authorized(self.inner.http.post(url).json(&body), endpoint);
        let response = builder.send().await.map_err(http::transport_fault)?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after_ms(response.headers());
        let bytes = response.bytes().await.map_err(http::transport_fault)?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let mut fault = http::error_fault(endpoint.wire, status, &body);
            fault.retry_after_ms = retry_after;
            return Err(fault);
        }
        read(&body).ok_or_else(|| {
            let mut fault = Fault::malformed("the reply has no embeddings");
            fault.status = Some(status);
            fault
        })
    }
}

/// A batch's vectors and the prompt tokens reported.
type Batch = (Vec<Vec<f32>>, Option<u64>);

/// `batch` when it has one vector per text, all of one length (and of `dimensions` when a
/// previous batch set it).
fn checked(batch: Batch, texts: usize, dimensions: usize) -> Result<Batch, Fault> {
    let length = batch.0.first().map_or(0, Vec::len);
    if batch.0.len() != texts {
        return Err(Fault::malformed(&format!(
            "{} vectors for {texts} texts",
            batch.0.len()
        )));
    }
    if length == 0
        || batch.0.iter().any(|v| v.len() != length)
        || (dimensions > 0 && length != dimensions)
    {
        return Err(Fault::malformed("vectors of different lengths"));
    }
    Ok(batch)
}

fn openai_body(model: &str, texts: &[String], dimensions: Option<u32>) -> Value {
    let mut body = json!({"model": model, "input": texts, "encoding_format": "float"});
    if let Some(d) = dimensions {
        body["dimensions"] = d.into();
    }
    body
}

fn openai_reply(body: &Value) -> Option<Batch> {
    let mut data: Vec<&Value> = body.get("data")?.as_array()?.iter().collect();
    data.sort_by_key(|d| d.get("index").and_then(Value::as_u64).unwrap_or(0));
    let vectors = data
        .into_iter()
        .map(|d| floats(d.get("embedding")?))
        .collect::<Option<Vec<_>>>()?;
    let tokens = body
        .get("usage")
        .map(|u| count_at(u, "prompt_tokens"))
        .filter(|t| *t > 0);
    Some((vectors, tokens))
}

fn gemini_body(model: &str, texts: &[String], dimensions: Option<u32>) -> Value {
    let requests: Vec<Value> = texts
        .iter()
        .map(|text| {
            let mut r =
                json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
            if let Some(d) = dimensions {
                r["outputDimensionality"] = d.into();
            }
            r
        })
        .collect();
    json!({ "requests": requests })
}

fn gemini_reply(body: &Value) -> Option<Batch> {
    let vectors = body
        .get("embeddings")?
        .as_array()?
        .iter()
        .map(|e| floats(e.get("values")?))
        .collect::<Option<Vec<_>>>()?;
    Some((vectors, None))
}

fn floats(value: &Value) -> Option<Vec<f32>> {
    value
        .as_array()?
        .iter()
        .map(|x| x.as_f64().map(|x| x as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FailureKind;

    #[test]
    fn replies_map_back_in_the_request_order() {
        let body = json!({"data": [
            {"index": 1, "embedding": [0.5, 0.25]},
            {"index": 0, "embedding": [1.0, 0.0]}
        ], "usage": {"prompt_tokens": 7}});
        let (vectors, tokens) = openai_reply(&body).unwrap();
        assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.5, 0.25]]);
        assert_eq!(tokens, Some(7));
        let body = json!({"embeddings": [{"values": [0.1]}, {"values": [0.2]}]});
        assert_eq!(gemini_reply(&body).unwrap().0, vec![vec![0.1], vec![0.2]]);
        assert!(openai_reply(&json!({"data": [{"embedding": "x"}]})).is_none());
    }

    #[test]
    fn bodies_carry_the_model_texts_and_dimensions() {
        let texts = vec!["a".to_owned(), "b".to_owned()];
        let body = openai_body("m", &texts, Some(8));
        assert_eq!(body["input"], json!(["a", "b"]));
        assert_eq!(body["dimensions"], 8);
        let body = gemini_body("g", &texts, None);
        assert_eq!(body["requests"][1]["model"], "models/g");
        assert_eq!(body["requests"][1]["content"]["parts"][0]["text"], "b");
        assert!(body["requests"][0].get("outputDimensionality").is_none());
    }

    #[test]
    fn batches_of_the_wrong_shape_are_faults() {
        let two = (vec![vec![1.0, 2.0], vec![3.0]], None);
        assert_eq!(
            checked(two.clone(), 2, 0).unwrap_err().kind,
            FailureKind::ServerError
        );
        assert!(checked(two, 3, 0).is_err());
        let ok = (vec![vec![1.0, 2.0]], Some(1));
        assert!(checked(ok.clone(), 1, 2).is_ok());
        assert!(checked(ok, 1, 3).is_err());
    }

    #[test]
    fn requests_name_the_field_they_break() {
        let field = |r: EmbedRequest| r.target().unwrap_err().field().map(str::to_owned);
        assert_eq!(field(EmbedRequest::default()).as_deref(), Some("texts"));
        assert_eq!(
            field(EmbedRequest::new(["a", " "])).as_deref(),
            Some("texts[1]")
        );
        let mut r = EmbedRequest::new(["a"]);
        r.provider = Some("anthropic");
        assert_eq!(field(r).as_deref(), Some("provider"));
        let mut r = EmbedRequest::new(["a"]);
        r.dimensions = Some(0);
        assert_eq!(field(r).as_deref(), Some("dimensions"));
        let r = EmbedRequest::new(["a"]);
        assert_eq!(r.target().unwrap(), ("openai", "text-embedding-3-small"));
    }
}
