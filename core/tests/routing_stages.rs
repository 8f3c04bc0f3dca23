//! The model stages of routing, with the host-side `Classifier` and `Embedder` a platform would
//! plug in (the traits exist for that): the LLM stage runs only when allowed, its answer must be
//! one of the candidates, a failure or a timeout falls through and is never cached; the
//! embedding stage embeds each skill version once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use keel::Keel;
use keel::llm::{
    CallRequest, Classification, Classifier, ClassifyRequest, EmbedRequest, Embedder, Embeddings,
};
use keel::routing::{MatchedBy, MessageRouter, RouteRequest, RouterOptions, Stage, Thresholds};
use keel::skills::{RegistryOptions, SkillRegistry, SyncOptions};
use uuid::Uuid;

const ORG: Uuid = Uuid::from_u128(0x5);

/// Answers with a fixed label (or fails, or sleeps first), counting its calls and the labels
/// it was offered.
struct Fixed {
    answer: Option<&'static str>,
    delay: Duration,
    calls: AtomicUsize,
    offered: std::sync::Mutex<Vec<String>>,
}

impl Fixed {
    fn new(answer: Option<&'static str>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            answer,
            delay,
            calls: AtomicUsize::new(0),
            offered: std::sync::Mutex::new(Vec::new()),
        })
    }
}

impl Classifier for Fixed {
    fn classify<'a>(
        &'a self,
        request: &'a ClassifyRequest,
    ) -> BoxFuture<'a, keel::Result<Classification>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            *self.offered.lock().unwrap() = request.labels.iter().map(|l| l.name.clone()).collect();
            tokio::time::sleep(self.delay).await;
            match self.answer {
                Some(label) => Ok(Classification {
                    label: label.into(),
                    confidence: Some(0.9),
                    completion: None,
                }),
                None => Err(keel::Error::invalid_input("model", "the host model failed")),
            }
        })
    }
}

/// Bag-of-words vectors over a few words, counting every text it embeds.
struct Words(AtomicUsize);

const VOCABULARY: [&str; 6] = ["deal", "pipeline", "forecast", "meeting", "email", "risk"];

impl Embedder for Words {
    fn embed<'a>(&'a self, request: &'a EmbedRequest) -> BoxFuture<'a, keel::Result<Embeddings>> {
        Box::pin(async move {
            self.0.fetch_add(request.texts.len(), Ordering::SeqCst);
            let vectors: Vec<Vec<f32>> = request
                .texts
                .iter()
                .map(|t| {
                    let t = t.to_lowercase();
                    VOCABULARY
                        .iter()
                        .map(|w| t.matches(w).count() as f32)
                        .collect()
                })
                .collect();
            Ok(Embeddings {
                dimensions: VOCABULARY.len(),
                vectors,
                provider: "host".into(),
                model: "words".into(),
                input_tokens: None,
                attempts: Vec::new(),
                trace_id: Uuid::nil(),
            })
        })
    }
}

/// A router over the library whose index never decides (thresholds at 1), so every route
/// reaches the model stages.
async fn open(keel: &Keel) -> SkillRegistry {
    let registry = SkillRegistry::open(keel, RegistryOptions::default())
        .await
        .unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills");
    registry
        .sync(&root, SyncOptions::default(), |_, _, _| {})
        .await
        .unwrap();
    registry
}

fn undecided() -> RouterOptions {
    RouterOptions {
        thresholds: Thresholds {
            sequence: 1.0,
            skill: 1.0,
            ..Thresholds::default()
        },
        llm_timeout: Duration::from_millis(200),
        log: false,
        ..RouterOptions::default()
    }
}

fn request(message: &str, allow_llm: bool) -> RouteRequest {
    let mut r = RouteRequest::new(message, "web", ORG).unwrap();
    r.options.allow_llm = allow_llm;
    r
}

#[tokio::test]
async fn the_llm_stage_chooses_among_the_candidates_only_when_allowed() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let registry = open(&keel).await;
    let classifier = Fixed::new(Some("deal-status"), Duration::ZERO);
    let router = MessageRouter::open(&registry, undecided())
        .unwrap()
        .with_classifier(classifier.clone(), CallRequest::default());
    let message = "where are we with the Globex deal";
    let without = router.route(&request(message, false)).await.unwrap();
    assert_eq!(
        (without.stage, without.out_of_scope),
        (Stage::Fallback, true)
    );
    assert_eq!(
        classifier.calls.load(Ordering::SeqCst),
        0,
        "not allowed, not called"
    );
    let with = router
        .route(&request("how is the Globex deal going", true))
        .await
        .unwrap();
    assert_eq!((with.stage, with.matched_by), (Stage::Llm, MatchedBy::Llm));
    assert_eq!(with.route, "deal-status");
    assert_eq!(with.confidence, 0.9);
    let offered = classifier.offered.lock().unwrap().clone();
    assert!(offered.contains(&"deal-status".to_owned()) && offered.last().unwrap() == "none");
    assert!(
        offered.len() <= router.options().candidates + 2,
        "{offered:?}"
    );
    keel.close().await;
}

#[tokio::test]
async fn an_answer_outside_the_candidates_a_failure_or_a_timeout_falls_through_uncached() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let registry = open(&keel).await;
    for (answer, delay) in [
        (Some("none"), Duration::ZERO),
        (
            Some("email-draft-reply-that-does-not-exist"),
            Duration::ZERO,
        ),
        (None, Duration::ZERO),
        (Some("deal-status"), Duration::from_secs(2)),
    ] {
        let classifier = Fixed::new(answer, delay);
        let router = MessageRouter::open(&registry, undecided())
            .unwrap()
            .with_classifier(classifier.clone(), CallRequest::default());
        let started = std::time::Instant::now();
        let routed = router
            .route(&request("how is the Globex deal going", true))
            .await
            .unwrap();
        assert_eq!(
            (routed.route.as_str(), routed.stage),
            ("general", Stage::Fallback)
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the timeout holds"
        );
        let again = router
            .route(&request("how is the Globex deal going", true))
            .await
            .unwrap();
        let failed = answer.is_none() || !delay.is_zero();
        assert_eq!(
            again.cached, !failed,
            "{answer:?}: failures are never cached"
        );
    }
    keel.close().await;
}

#[tokio::test]
async fn the_embedding_stage_embeds_each_skill_version_once() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let registry = open(&keel).await;
    let embedder = Arc::new(Words(AtomicUsize::new(0)));
    let router = MessageRouter::open(&registry, undecided())
        .unwrap()
        .with_embedder(embedder.clone(), EmbedRequest::default());
    let first = router
        .route(&request("deal deal risk risk", false))
        .await
        .unwrap();
    assert_eq!(
        (first.stage, first.matched_by),
        (Stage::Embedding, MatchedBy::Semantic)
    );
    let skills_and_message = embedder.0.load(Ordering::SeqCst);
    assert!(skills_and_message >= 17, "{skills_and_message}");
    let mut other = request("pipeline forecast", false);
    other.options.skip_cache = true;
    router.route(&other).await.unwrap();
    assert_eq!(
        embedder.0.load(Ordering::SeqCst),
        skills_and_message + 1,
        "the second route embeds its message only"
    );
    keel.close().await;
}
