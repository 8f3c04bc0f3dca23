//! The attributes of a call's span and of its attempts' spans, under OpenTelemetry's GenAI
//! names (`gen_ai.*`) and Keel's own (`keel.*`).

use serde_json::{Map, Value, json};

use super::call::Completion;
use super::request::CallRequest;
use super::wire::{Fault, TokenUsage, Wire};
use crate::models::Resolution;
use crate::telemetry::gen_ai;

/// What a call's span starts with: the operation, the feature and tier, the first candidate's
/// model and the tokens asked for; the request's content when the handle captures it.
pub(super) fn call_start(
    request: &CallRequest,
    first: &Resolution,
    max_tokens: u32,
    capture: bool,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(gen_ai::OPERATION_NAME.into(), "chat".into());
    if let Some(feature) = request.feature {
        m.insert("keel.feature".into(), feature.as_str().into());
    }
    m.insert("keel.tier".into(), first.tier.as_str().into());
    m.insert(gen_ai::REQUEST_MODEL.into(), first.model_id.as_ref().into());
    m.insert(gen_ai::REQUEST_MAX_TOKENS.into(), max_tokens.into());
    if capture {
        super::content::input(request, &mut m);
    }
    m
}

/// What the span of attempt `number` (from 1) at `candidate` starts with.
pub(super) fn attempt_start(candidate: &Resolution, number: usize) -> Map<String, Value> {
    let mut m = Map::new();
    let wire = Wire::of(&candidate.provider).unwrap_or(Wire::OpenAi);
    m.insert(gen_ai::OPERATION_NAME.into(), "chat".into());
    m.insert(
        gen_ai::PROVIDER_NAME.into(),
        wire.otel_name(&candidate.provider).into(),
    );
    m.insert(
        gen_ai::REQUEST_MODEL.into(),
        candidate.model_id.as_ref().into(),
    );
    m.insert("keel.attempt".into(), number.into());
    m
}

/// What an attempt's span ends with when its provider answered: the tokens used.
pub(super) fn usage(usage: &TokenUsage) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(gen_ai::USAGE_INPUT_TOKENS.into(), usage.input_tokens.into());
    m.insert(
        gen_ai::USAGE_OUTPUT_TOKENS.into(),
        usage.output_tokens.into(),
    );
    m
}

/// What an attempt's span ends with when it failed: the outcome and the HTTP status.
pub(super) fn fault(fault: &Fault) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("error.type".into(), fault.kind.as_str().into());
    if let Some(status) = fault.status {
        m.insert("http.response.status_code".into(), status.into());
    }
    m
}

/// What a call's span ends with when it answered: the tokens, the provider and model that
/// answered, why the reply ended, the credits charged and the attempts made.
pub(super) fn completion(c: &Completion) -> Map<String, Value> {
    let mut m = usage(&c.usage);
    let wire = Wire::of(&c.provider).unwrap_or(Wire::OpenAi);
    m.insert(
        gen_ai::PROVIDER_NAME.into(),
        wire.otel_name(&c.provider).into(),
    );
    m.insert(
        gen_ai::RESPONSE_MODEL.into(),
        c.response_model.as_deref().unwrap_or(&c.model).into(),
    );
    m.insert(
        gen_ai::RESPONSE_FINISH_REASONS.into(),
        json!([c.finish_reason.as_str()]),
    );
    m.insert("keel.credits_charged".into(), c.credits_charged.into());
    m.insert("keel.attempts".into(), c.attempts.len().into());
    m
}
