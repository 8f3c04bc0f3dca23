//! What every command shares: the database it opens (named on stderr, never created unless the
//! command exists to create it) and how it reports (lines for a person, or one JSON document
//! with `--json`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// The database of every command but the demo, when neither `--database-url` nor
/// `KEEL_DATABASE_URL` names one.
pub const DEFAULT_URL: &str = "sqlite://.keel/keel.db";

static JSON: AtomicBool = AtomicBool::new(false);
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The global flags, as each command needs them.
pub struct Ctx {
    /// `--json`: one JSON document on stdout instead of lines.
    pub json: bool,
    url: Option<String>,
}

/// Why a command exits non-zero.
#[derive(Debug)]
pub enum Failure {
    /// Nothing was reported: the error is the whole answer (as JSON with `--json`).
    Early(keel::Error),
    /// The report was printed and says what failed (a partial failure); the error goes to
    /// stderr only, so that `--json` output stays one document.
    Reported(keel::Error),
}

impl From<keel::Error> for Failure {
    fn from(err: keel::Error) -> Self {
        Failure::Early(err)
    }
}

/// What a command returns.
pub type Done = Result<(), Failure>;

/// Whether a command may create the database it opens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// `migrate` and `demo`: their purpose is a database.
    Yes,
    /// Every other command: a missing SQLite file is an error, so a mistyped path never
    /// reports on a new, empty database.
    No,
}

impl Ctx {
    /// The flags as parsed; `--json` also turns [`say!`] lines into a JSON list.
    pub fn new(json: bool, url: Option<String>) -> Self {
        JSON.store(json, Ordering::Relaxed);
        Self { json, url }
    }

    /// The database URL: the flag or the environment, else `default`.
    pub fn url<'a>(&'a self, default: &'a str) -> &'a str {
        self.url.as_deref().unwrap_or(default)
    }

    /// Connects to the database (named on stderr, password masked) with the migrations applied.
    pub async fn connect(&self, default: &str, create: Create) -> keel::Result<keel::Keel> {
        self.connect_with(default, create, true).await
    }

    /// As [`Ctx::connect`], choosing whether to apply the migrations.
    pub async fn connect_with(
        &self,
        default: &str,
        create: Create,
        migrate: bool,
    ) -> keel::Result<keel::Keel> {
        let options = keel::ConnectOptions {
            migrate,
            ..Default::default()
        };
        self.open(default, create, options).await
    }

    /// As [`Ctx::connect`], with `options` (whose `create` follows `create`).
    pub async fn open(
        &self,
        default: &str,
        create: Create,
        options: keel::ConnectOptions,
    ) -> keel::Result<keel::Keel> {
        let url = self.url(default);
        eprintln!("keel: database {}", keel::mask_url(url));
        let options = keel::ConnectOptions {
            create: create == Create::Yes,
            ..options
        };
        let connected = keel::Keel::connect_with(url, options).await;
        if let Err(err) = &connected
            && create == Create::No
            && err.code() == "connection"
        {
            eprintln!("keel: `keel migrate` creates a database; other commands only open one");
        }
        connected
    }

    /// Prints `value` as JSON with `--json`, else the lines `text` makes.
    pub fn emit(&self, value: &impl Serialize, text: impl FnOnce() -> String) {
        if self.json {
            print_json(value);
        } else {
            // anstream drops colours when stdout is not a terminal or NO_COLOR is set.
            anstream::print!("{}", text());
        }
    }
}

/// Prints `value` as indented JSON.
pub fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    );
}

/// One line for a person: printed now, or kept for the JSON document under `--json`.
pub fn line(text: String) {
    if JSON.load(Ordering::Relaxed) {
        LINES.lock().unwrap_or_else(|e| e.into_inner()).push(text);
    } else {
        println!("{text}");
    }
}

/// The lines [`line`] kept under `--json`.
pub fn take_lines() -> Vec<String> {
    std::mem::take(&mut *LINES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// `println!` for output that `--json` collects instead (the demo's narration).
macro_rules! say {
    () => { $crate::output::line(String::new()) };
    ($($arg:tt)*) => { $crate::output::line(format!($($arg)*)) };
}
pub(crate) use say;
