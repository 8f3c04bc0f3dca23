//! Conversation memory (issue 16). So far: when a conversation must be compacted for a model
//! ([`threshold`]), from the context windows of the model matrix, with dated and aliased model
//! ids normalised ([`canonical_model_id`]).

mod threshold;

pub use threshold::{
    CompactionThreshold, DEFAULT_RATIO, ThresholdOptions, canonical_model_id, threshold,
};
