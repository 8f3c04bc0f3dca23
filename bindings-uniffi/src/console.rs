//! `Keel.console`, `Console`, `consoleReads` and `consoleActions`: the operator console's reads
//! and actions by name, what `keel serve` answers, for a platform's own admin pages (core:
//! `keel::console`, which owns every read, check, page bound and the action log).

use std::sync::Arc;

use keel::console::{CONSOLE_ACTIONS, CONSOLE_READS, Console as CoreConsole};
use keel::options::Case::Camel;

use crate::error::KeelError;
use crate::json::{call_text, value};
use crate::runtime::run;
use crate::store::Keel;

/// The operator console on a database; open it with `keel.console(optionsJson)`.
#[derive(uniffi::Object)]
pub struct Console {
    inner: CoreConsole,
}

#[uniffi::export]
impl Keel {
    /// Opens the console (`optionsJson`: `allowActions`, default false).
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn console(&self, options_json: Option<String>) -> Result<Arc<Console>, KeelError> {
        let keel = self.inner.clone();
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            let inner = CoreConsole::open_value(&keel, options, Camel, "options").await?;
            Ok(Arc::new(Console { inner }))
        })
        .await
    }
}

#[uniffi::export]
impl Console {
    /// Runs the read or action `op` (one of `consoleReads()` or `consoleActions()`) with
    /// `argsJson` (camelCase: `{"orgId": …}`): its result as JSON, as `keel serve`'s
    /// `/api/<op>` answers it (a log event's `metadata` as stored). An action needs `actor`
    /// and a console opened with `allowActions: true`.
    ///
    /// # Errors
    /// `invalid_input` naming `op` when unknown, or the argument.
    #[uniffi::method(default(args_json = None))]
    pub async fn call(&self, op: String, args_json: Option<String>) -> Result<String, KeelError> {
        let op = CoreConsole::operation(&op)?;
        let args = move || Ok(value(args_json.as_deref(), "args")?.unwrap_or_default());
        call_text(&self.inner, op, args).await
    }

    /// Whether actions may run.
    pub fn allows_actions(&self) -> bool {
        self.inner.allows_actions()
    }
}

/// The console's reads, in order.
#[uniffi::export]
pub fn console_reads() -> Vec<String> {
    CONSOLE_READS.iter().map(|&r| r.to_owned()).collect()
}

/// The console's actions (each needs `actor`).
#[uniffi::export]
pub fn console_actions() -> Vec<String> {
    CONSOLE_ACTIONS.iter().map(|&a| a.to_owned()).collect()
}
