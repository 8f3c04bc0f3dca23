//! `keel serve`: the operator console (a page built in `console/` and embedded here) and its
//! JSON API, `POST /api/<op>` with the arguments as a JSON body, over [`keel::console`].
//!
//! The server only speaks HTTP: what each call reads, its defaults, limits and checks, and
//! which calls are actions live in core. Here: the token (every request carries it as a bearer
//! or the cookie `/login?token=…` sets; anything but loopback needs one), the security
//! headers on every response, actions refused with 403 unless `--allow-actions`, and the
//! actor an action is logged under (`X-Keel-Actor`, else the peer's address).
//!
//! Another site open in the operator's browser cannot call the API: a call must be
//! `application/json` (which a cross-site page can only send after a CORS preflight this server
//! never grants), the cookie is `SameSite=Strict`, and without a token a request must name a
//! loopback host (`Host: 127.0.0.1:…`, `localhost:…`, `[::1]:…`), which a rebound DNS name
//! does not.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keel::console::{Console, ConsoleOptions};
use keel::options::{Calls, Case};
use serde_json::{Value, json};

use crate::output::{Create, Ctx, DEFAULT_URL, Done, Failure};

/// `keel serve`'s flags.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where to listen; anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8741")]
    listen: SocketAddr,
    /// The token every request must carry (`Authorization: Bearer …`, or open
    /// `/login?token=…` once in the browser).
    #[arg(long, env = "KEEL_CONSOLE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Let operators redrive and abandon dead letters, deprecate or restore skills and reset
    /// breakers (each logged with who and when).
    #[arg(long)]
    allow_actions: bool,
}

/// The page, its script and its stylesheet, built by `npm run build` in `console/`.
const INDEX: &str = include_str!("../../console/dist/index.html");
const SCRIPT: &str = include_str!("../../console/dist/console.js");
const STYLE: &str = include_str!("../../console/dist/console.css");

/// The headers every response carries: nothing but this origin's own script and styles runs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The cookie `/login` sets.
const COOKIE: &str = "keel_console";

struct App {
    console: Console,
    token: Option<String>,
}

/// Runs `keel serve` until interrupted.
pub async fn run(ctx: &Ctx, args: ServeArgs) -> Done {
    let token = args.token.filter(|t| !t.is_empty());
    if token.is_none() && !args.listen.ip().is_loopback() {
        return Err(Failure::Early(keel::Error::invalid_input(
            "token",
            "is required to listen beyond loopback (--token or KEEL_CONSOLE_TOKEN)",
        )));
    }
    let keel = ctx.connect(DEFAULT_URL, Create::No).await?;
    let console = Console::open(
        &keel,
        ConsoleOptions {
            allow_actions: args.allow_actions,
        },
    )
    .await?;
    // A view makes a few calls at once, each on its own pooled connection.
    console.warm(4).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::Early(keel::Error::invalid_input("listen", e.to_string())))?;
    let address = listener.local_addr().unwrap_or(args.listen);
    let url = format!("http://{address}/");
    ctx.emit(
        &json!({"url": url, "database": keel.url(), "allow_actions": args.allow_actions, "token": token.is_some()}),
        || {
            format!(
                "console on {url} over {} ({}{})\n",
                keel.url(),
                if args.allow_actions { "actions allowed" } else { "read-only" },
                if token.is_some() { ", token required: open /login?token=… once" } else { "" }
            )
        },
    );
    let app = router(Arc::new(App { console, token }));
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped())
    .await;
    keel.close().await;
    served.map_err(|e| {
        Failure::Early(keel::Error::Internal(format!(
            "the console server stopped: {e}"
        )))
    })
}

/// Resolves on Ctrl-C or SIGTERM (a service manager's stop): requests in flight finish, then
/// the database closes.
async fn stopped() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/console.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/{op}", post(api))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .route("/login", get(login))
        .layer(middleware::from_fn(secure))
        .with_state(app)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// Security headers on every response, the login's and the refusals' included.
async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Refuses a request without the token (when there is one) with 401, and one naming another
/// host than loopback (when there is none) with 403.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match &app.token {
        Some(token) if !carries(request.headers(), token) => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this console needs its token: `Authorization: Bearer …`, or open /login?token=… once",
        ),
        None if !loopback_host(request.headers()) => error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "without a token the console answers only requests to a loopback host",
        ),
        _ => next.run(request).await,
    }
}

/// Whether the `Host` header names a loopback address or `localhost`.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name == "localhost"
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `headers` carry `token` as a bearer or in the console's cookie.
fn carries(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
        .collect::<Vec<_>>();
    bearer.is_some_and(|b| same(b, token)) || cookie.iter().any(|c| same(c, token))
}

/// Compares in time independent of where the two differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `/login?token=…`: sets the cookie and opens the console, or 401.
async fn login(State(app): State<Arc<App>>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or("").as_bytes();
    let given = url::form_urlencoded::parse(query)
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned());
    match (&app.token, given) {
        (None, _) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
        (Some(token), Some(given)) if same(&given, token) => {
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::SET_COOKIE, cookie),
                ],
            )
                .into_response()
        }
        _ => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong or missing token",
        ),
    }
}

/// `POST /api/<op>`: the console call `op` on the JSON body.
async fn api(
    State(app): State<Arc<App>>,
    Path(op): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_input",
            "a console call is a POST of `content-type: application/json`",
        );
    }
    let mut args: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_input",
                    &format!("the body is not JSON: {e}"),
                );
            }
        }
    };
    if Console::is_action(&op) {
        if !app.console.allows_actions() {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the console is read-only: start it with `keel serve --allow-actions`",
            );
        }
        let actor = headers
            .get("x-keel-actor")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| format!("console@{}", peer.ip()), str::to_owned);
        if let Some(map) = args.as_object_mut() {
            map.insert("actor".into(), Value::String(actor));
        }
    }
    match app.console.call_value(&op, Some(args), Case::Snake).await {
        Ok(value) => axum::Json(value).into_response(),
        Err(err) => {
            let status = if err.code() == "invalid_input" {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, axum::Json(json!({ "error": err.to_json() }))).into_response()
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}
