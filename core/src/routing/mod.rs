//! Message routing: which skill answers a message, for every channel, in microseconds.
//!
//! [`MessageRouter::route`] takes a message, its channel, org and user, and decides in stages,
//! each measurable on its own and each able to stop the route:
//!
//! 1. **cache**: keyed by the canonical message ([`text::canonical`]: NFKC, case folding,
//!    whitespace collapsed), the org, the channel and the version of the org's skills, so a
//!    sync or an override never serves a stale route. A hit keeps the stage that decided.
//!    Decisions are shared through `routing_cache` (org-scoped), which warms a new instance.
//! 2. **rules**: greetings, thanks, help, yes/no and feedback, matched against the whole
//!    message ([`rules`]).
//! 3. **skill index**: BM25 over each skill's triggers, examples, keywords and description,
//!    phrase matches with placeholders, calibrated into probabilities ([`index`],
//!    [`calibrate`]); sequences first at 0.7, single skills at 0.5 (the original's
//!    thresholds, per org in [`RouterOptions::org_thresholds`]).
//! 4. **embeddings** (optional, [`MessageRouter::with_embedder`]): cosine similarity to each
//!    skill's description and examples, vectors cached per skill version.
//! 5. **LLM** (optional, [`MessageRouter::with_classifier`], and only when the route allows
//!    it): a classifier chooses among the top candidates or none, within its own timeout; an
//!    answer outside the candidates falls through.
//! 6. **fallback**: `general`, with `out_of_scope: true`, so a caller can tell "nothing fits"
//!    from a general message such as "thanks".
//!
//! Every decision, cache hits included, is written to `routing_logs` off the response path.
//! [`evaluate`] scores a labelled set (accuracy, per-skill precision and recall, confusion
//! pairs, out-of-scope false accepts, the share decided per stage, latency).

mod cache;
pub mod calibrate;
mod decision;
pub mod entities;
mod eval;
pub mod index;
mod options;
mod request;
mod router;
pub mod rules;
mod stages;
mod store;
pub mod text;
mod writer;

pub use calibrate::{Calibration, Observation};
pub use decision::{Decision, GENERAL, MatchedBy, Routed, Stage};
pub use entities::{Band, Entities};
pub use eval::{
    Evaluation, LabelledMessage, OUT_OF_SCOPE, evaluate, evaluate_jsonl, read_labelled,
};
pub use index::{Candidate, Evidence, SkillIndex};
pub use options::{
    AMBIGUITY_MARGIN, CACHE_TTL, LogQuery, RouteOptions, RouterOptions, SEMANTIC_THRESHOLD,
    SEQUENCE_THRESHOLD, SKILL_THRESHOLD, Thresholds,
};
pub use request::RouteRequest;
pub use router::{MessageRouter, RouterStats};
pub use rules::GeneralIntent;
pub use stages::{LLM_INSTRUCTIONS, NONE_LABEL};
pub use store::LogRow;
