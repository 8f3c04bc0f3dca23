//! The model stages: embedding similarity and the LLM classifier.

use std::sync::Arc;

use super::decision::{Decision, MatchedBy, Stage};
use super::index::Candidate;
use super::options::Thresholds;
use super::request::RouteRequest;
use super::router::{Indexed, MessageRouter, take};
use crate::llm::{
    CLASSIFY_MAX_TOKENS, CallRequest, ClassifyRequest, EmbedRequest, Label, Llm, TaskModel,
};
use crate::models::Feature;

/// The label the LLM stage offers for "none of these".
pub const NONE_LABEL: &str = "none";

/// What the LLM stage is told before the labels.
pub const LLM_INSTRUCTIONS: &str = "You route a sales assistant's messages to skills. Choose \
the skill that should answer the message, or `none` when no skill fits.";

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        na += f64::from(*x) * f64::from(*x);
        nb += f64::from(*y) * f64::from(*y);
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// The text a skill is embedded from: its description and example phrases.
fn skill_text(skill: &crate::skills::ResolvedSkill) -> String {
    let mut text = skill.doc.description.clone();
    for trigger in &skill.doc.triggers {
        for example in &trigger.examples {
            text.push('\n');
            text.push_str(example);
        }
    }
    text
}

impl MessageRouter {
    /// Adds the LLM stage over `llm`: the classifier resolves the `copilot` feature through
    /// the model router, at most [`CLASSIFY_MAX_TOKENS`] reply tokens. Call before cloning.
    pub fn with_llm(self, llm: Llm) -> Self {
        self.with_classifier(Arc::new(llm), Self::classify_template())
    }

    /// The call every classification of the LLM stage starts from: the `copilot` feature, at
    /// most [`CLASSIFY_MAX_TOKENS`] reply tokens.
    fn classify_template() -> CallRequest {
        CallRequest {
            feature: Some(Feature::Copilot),
            max_tokens: Some(CLASSIFY_MAX_TOKENS),
            ..CallRequest::default()
        }
    }

    /// Adds the embedding stage over `llm`'s embeddings (its default provider and model).
    /// Call before cloning.
    pub fn with_llm_embeddings(self, llm: Llm) -> Self {
        self.with_embedder(Arc::new(llm), EmbedRequest::default())
    }

    /// The LLM stage and the embedding stage over the models given, Keel's clients
    /// ([`MessageRouter::with_llm`], [`MessageRouter::with_llm_embeddings`]) or the host's own
    /// functions (what the bindings call).
    pub fn with_models(self, classifier: Option<TaskModel>, embedder: Option<TaskModel>) -> Self {
        let router = match classifier {
            Some(model) => self.with_classifier(model.classifier(), Self::classify_template()),
            None => self,
        };
        match embedder {
            Some(model) => router.with_embedder(model.embedder(), EmbedRequest::default()),
            None => router,
        }
    }

    /// The embedding stage: cosine similarity between the message and each skill's text.
    pub(super) async fn semantic(
        &self,
        request: &RouteRequest,
        indexed: &Indexed,
        thresholds: &Thresholds,
        failed: &mut bool,
    ) -> Option<Decision> {
        let (embedder, template) = self.inner.embedder.as_ref()?;
        let skills: Vec<_> = indexed
            .view
            .skills
            .iter()
            .filter(|s| s.doc.category.as_deref() != Some("hitl"))
            .collect();
        let missing: Vec<_> = {
            let vectors = self.inner.vectors.lock().unwrap_or_else(|e| e.into_inner());
            skills
                .iter()
                .filter(|s| !vectors.contains_key(&s.content_hash))
                .collect()
        };
        let mut texts: Vec<String> = missing.iter().map(|s| skill_text(s)).collect();
        texts.push(request.message.clone());
        let embedded = embedder
            .embed(&EmbedRequest {
                texts,
                org_id: Some(request.org),
                trace_id: request.options.trace_id,
                ..template.clone()
            })
            .await;
        let Ok(mut embedded) = embedded else {
            *failed = true;
            return None;
        };
        let message = embedded.vectors.pop()?;
        let mut vectors = self.inner.vectors.lock().unwrap_or_else(|e| e.into_inner());
        for (skill, vector) in missing.iter().zip(embedded.vectors) {
            vectors.insert(skill.content_hash.clone(), Arc::new(vector));
        }
        let best = skills
            .iter()
            .filter_map(|s| Some((s, cosine(vectors.get(&s.content_hash)?, &message))))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.key.cmp(&a.0.key)))?;
        (best.1 >= thresholds.semantic).then(|| {
            let key = best.0.key.clone();
            self.decision(
                request,
                indexed,
                &key,
                best.1,
                MatchedBy::Semantic,
                Stage::Embedding,
            )
        })
    }

    /// The LLM stage: the classifier chooses among the top candidates or none.
    pub(super) async fn llm(
        &self,
        request: &RouteRequest,
        indexed: &Indexed,
        candidates: &[(usize, Candidate)],
        failed: &mut bool,
    ) -> Option<Decision> {
        let (classifier, template) = self.inner.classifier.as_ref()?;
        if candidates.is_empty() {
            return None;
        }
        let mut labels: Vec<Label> = candidates
            .iter()
            .filter_map(|(_, c)| indexed.view.get(&c.skill_key))
            .map(|s| Label {
                name: s.key.clone(),
                description: Some(s.doc.description.clone()),
            })
            .collect();
        labels.push(Label {
            name: NONE_LABEL.into(),
            description: Some("None of these skills fits the message.".into()),
        });
        let mut call = template.clone();
        call.org_id = Some(request.org);
        call.trace_id = request.options.trace_id;
        let classify = ClassifyRequest {
            text: request.message.clone(),
            labels,
            instructions: Some(LLM_INSTRUCTIONS.into()),
            call,
        };
        let answer = tokio::time::timeout(
            self.inner.options.llm_timeout,
            classifier.classify(&classify),
        )
        .await;
        let Ok(Ok(answer)) = answer else {
            *failed = true;
            return None;
        };
        // The answer must be one of the candidates offered; `none` and anything else fall
        // through to general.
        let chosen = candidates
            .iter()
            .find(|(_, c)| c.skill_key == answer.label)?;
        let confidence = answer
            .confidence
            .unwrap_or(chosen.1.confidence)
            .clamp(0.0, 1.0);
        let mut decision = self.decision(
            request,
            indexed,
            &chosen.1.skill_key,
            confidence,
            MatchedBy::Llm,
            Stage::Llm,
        );
        decision.evidence = chosen.1.evidence.clone();
        decision.candidates = take(candidates.to_vec(), self.inner.options.candidates);
        Some(decision)
    }
}
