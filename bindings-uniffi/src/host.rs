//! `ModelTask`: a model task (routing's classifier or embedder) done by the host's own model
//! client, a Kotlin or Swift function (core: `keel::llm::HostTask`, which writes what the
//! function is handed and reads what it answers). The hand-written Kotlin `modelTask { taskJson
//! -> … }` (Tasks.kt) wraps a suspend function as one.

use std::sync::Arc;

use keel::llm::{HostFunction, HostTask, TaskModel, TransportFailure, TransportFuture};
use keel::options::Case::Camel;

use crate::error::KeelError;
use crate::runner::FailureInfo;
use crate::runtime::on_own_thread;

/// What a host model task made of its task.
#[derive(uniffi::Enum)]
pub enum TaskAnswer {
    /// It answered, as JSON text: to classify a label (`"deal-status"`) or `{"label",
    /// "confidence"}`; to embed the vectors, one per text, or `{"vectors"}`.
    Answered {
        /// The answer, as JSON text.
        answer_json: String,
    },
    /// It threw: what the exception says of itself (a status of 429 is `rate_limited`, its
    /// wait kept).
    Threw {
        /// The failure.
        failure: FailureInfo,
    },
}

/// A model task the host does with its own model client. Called on a thread of its own: it
/// may block.
#[uniffi::export(with_foreign)]
pub trait ModelTask: Send + Sync {
    /// Does the task of `taskJson`: to classify `{text, labels: [{name, description}],
    /// instructions}`, to embed `{texts, model, dimensions}`.
    ///
    /// # Errors
    /// Any exception (an answer uniffi cannot carry, such as text with a lone surrogate,
    /// included): the stage fails, as for [`TaskAnswer::Threw`].
    fn call(&self, task_json: String) -> Result<TaskAnswer, KeelError>;
}

/// A host model task as core calls one.
struct Host(Arc<dyn ModelTask>);

impl HostFunction for Host {
    fn call(&self, argument: serde_json::Value) -> TransportFuture {
        let (host, task) = (self.0.clone(), argument.to_string());
        Box::pin(async move {
            let failed = |message: String| TransportFailure {
                message,
                ..TransportFailure::default()
            };
            match on_own_thread(move || host.call(task)).await {
                Ok(TaskAnswer::Answered { answer_json }) => serde_json::from_str(&answer_json)
                    .map_err(|err| failed(format!("the answer is not JSON: {err}"))),
                Ok(TaskAnswer::Threw { failure }) => Err(failure.into()),
                // The callback failed (or its thread panicked).
                Err(message) => Err(failed(message)),
            }
        })
    }
}

/// `task` as core's model, when given.
pub(crate) fn task_model(task: Option<Arc<dyn ModelTask>>) -> Option<TaskModel> {
    task.map(|t| TaskModel::Host(HostTask::new(Arc::new(Host(t)), Camel)))
}
