//! `Keel.console`, `Console`, `consoleReads` and `consoleActions`: the operator console's reads
//! and actions by name, what `keel serve` answers, for a platform's own admin pages (core:
//! `keel::console`, which owns every read, check, page bound and the action log).

use napi_derive::napi;

use keel::console::{CONSOLE_ACTIONS, CONSOLE_READS, Console as CoreConsole};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, call, run};
use crate::json::{Json, Parsed};

/// The operator console on a database; open it with `await db.console({ allowActions })`.
#[napi]
pub struct Console {
    inner: CoreConsole,
}

/// Opens a console on `keel` (behind `Keel.console`).
pub async fn open_console(
    keel: keel::Keel,
    options: Option<Json>,
) -> napi::Result<Outcome<Console>> {
    run!(keel, |keel| {
        let options = options.map(|o| o.0);
        let inner = CoreConsole::open_value(&keel, options, Camel, "options").await?;
        Ok(Console { inner })
    })
}

#[napi]
impl Console {
    /// Runs the read or action `op` (one of `consoleReads()` or `consoleActions()`) with
    /// `args` (camelCase: `{ orgId }`): its result, as `keel serve`'s `/api/<op>` answers it,
    /// in camelCase (a log event's `metadata` as stored). An action needs `actor` and a
    /// console opened with `allowActions: true`.
    #[napi(
        ts_args_type = "op: ConsoleRead | ConsoleAction, args?: Record<string, unknown> | null",
        ts_return_type = "Promise<any>"
    )]
    pub async fn call(&self, op: Arg<String>, args: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        match CoreConsole::operation(&op.0) {
            Ok(op) => call(&self.inner, op, args.map(|a| a.0)).await,
            Err(err) => Ok(Outcome(Err(err))),
        }
    }

    /// Whether actions may run.
    #[napi(getter)]
    pub fn allows_actions(&self) -> bool {
        self.inner.allows_actions()
    }
}

/// The console's reads, in order.
#[napi(ts_return_type = "ConsoleRead[]")]
pub fn console_reads() -> Vec<&'static str> {
    CONSOLE_READS.to_vec()
}

/// The console's actions (each needs `actor`).
#[napi(ts_return_type = "ConsoleAction[]")]
pub fn console_actions() -> Vec<&'static str> {
    CONSOLE_ACTIONS.to_vec()
}
