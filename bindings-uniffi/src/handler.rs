//! `LetterHandler` and `DeadLetters.workOnceWith`: a Kotlin or Swift dead-letter handler
//! (core: `keel::runner::handler`). The hand-written Kotlin `DeadLetters.workOnce(optionsJson)
//! { replayJson -> … }` (Runs.kt) wraps a suspend function as one.

use std::sync::Arc;

use keel::options::Case::Camel;
use keel::runner::{self, DeadLetter, Failure, Handled, HandlerFuture};

use crate::error::KeelError;
use crate::json::{record, value};
use crate::runner::{DeadLetters, FailureInfo};
use crate::runtime::{on_own_thread, run};

/// What a host handler made of a letter.
#[derive(uniffi::Enum)]
pub enum HandlerAnswer {
    /// It returned: its answer as JSON text, or null. `"accepted"`, `{"accepted": true}` or
    /// `{"status": "accepted"}` says the work goes on elsewhere (the letter waits for its
    /// `resolve`); anything else says the replay is done.
    Returned {
        /// The answer, as JSON text.
        answer_json: Option<String>,
    },
    /// It threw: what the exception says of itself, for core to classify.
    Threw {
        /// The failure.
        failure: FailureInfo,
    },
}

/// Replays dead letters in the host (a Kotlin or Swift function calling the platform's own
/// agent). Called on a thread of its own: it may block.
#[uniffi::export(with_foreign)]
pub trait LetterHandler: Send + Sync {
    /// Replays the letter of `replayJson` (a `Replay`: `id`, `agentName`, `triggerType`,
    /// `payload`, `orgId`, `userId`, `traceId`, `retry`, `idempotencyKey`, `steps`).
    ///
    /// # Errors
    /// Any exception (an answer uniffi cannot carry, such as text with a lone surrogate,
    /// included): the replay failed, as for [`HandlerAnswer::Threw`].
    fn handle(&self, replay_json: String) -> Result<HandlerAnswer, KeelError>;
}

/// A host handler as core calls one.
struct Host(Arc<dyn LetterHandler>);

impl runner::LetterHandler for Host {
    fn handle(&self, letter: DeadLetter) -> HandlerFuture {
        let (host, replay) = (self.0.clone(), record(&runner::replay(&letter)));
        Box::pin(async move {
            match on_own_thread(move || host.handle(replay)).await {
                Ok(HandlerAnswer::Returned { answer_json }) => {
                    match value(answer_json.as_deref(), "answer") {
                        Ok(answer) => Ok(Handled::of_value(&answer.unwrap_or_default())),
                        Err(err) => Err(Failure {
                            message: err.to_string(),
                            ..Failure::default()
                        }),
                    }
                }
                Ok(HandlerAnswer::Threw { failure }) => Err(failure.into()),
                // The callback failed (or its thread panicked).
                Err(message) => Err(Failure {
                    message,
                    ..Failure::default()
                }),
            }
        })
    }
}

#[uniffi::export]
impl DeadLetters {
    /// Claims one batch of due letters and replays each through `handler` (`optionsJson`:
    /// Node's `WorkerOptions`, without `url`): the `WorkReport` as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the option (`url` as well as a handler).
    #[uniffi::method(default(options_json = None))]
    pub async fn work_once_with(
        &self,
        handler: Arc<dyn LetterHandler>,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let letters = self.inner.clone();
        let handler = Arc::new(Host(handler)) as Arc<dyn runner::LetterHandler>;
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            let report = letters.work_once_value(options, Some(handler), Camel, "options");
            Ok(record(&report.await?))
        })
        .await
    }
}
