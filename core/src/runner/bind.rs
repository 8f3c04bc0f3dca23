//! Parameters of the runner's statements, bound in order on either backend.

/// `$query` with `$binds` bound in order (a `query` or a `query_as`, on either backend).
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds.0 {
            query = match bind {
                $crate::runner::bind::Bind::Text(v) => query.bind(v),
                $crate::runner::bind::Bind::Int(v) => query.bind(v),
                $crate::runner::bind::Bind::Float(v) => query.bind(v),
                $crate::runner::bind::Bind::Bool(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(super) use bind_all;

/// A parameter of a runner statement.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

/// The parameters of a statement, `$1` first.
#[derive(Debug, Default)]
pub(super) struct Binds(pub(super) Vec<Bind>);

/// An id as (uuid column, raw column): a UUID goes in the first, anything else (`system`) in
/// the second.
pub(super) fn split_id(raw: Option<&str>) -> (Option<String>, Option<String>) {
    match raw {
        None => (None, None),
        Some(raw) => match uuid::Uuid::try_parse(raw) {
            Ok(id) => (Some(id.to_string()), None),
            Err(_) => (None, Some(raw.to_owned())),
        },
    }
}

/// Runs `statement` (PostgreSQL spelling) with `binds` on `pool`: the rows it changed.
pub(super) async fn execute(
    pool: &crate::store::Pool,
    statement: &str,
    binds: Binds,
) -> crate::Result<u64> {
    Ok(crate::store::on_pool!(pool, |conn, sql| {
        let text = sql(statement);
        bind_all!(sqlx::query(&text), binds)
            .execute(conn)
            .await?
            .rows_affected()
    }))
}

/// A listing's `limit` checked (1 to 1,000) and its `since` (RFC 3339) in epoch milliseconds.
///
/// # Errors
/// [`crate::Error::InvalidInput`] on `limit` or `since`.
pub(super) fn listing(limit: u32, since: Option<&str>) -> crate::Result<Option<i64>> {
    if !(1..=1_000).contains(&limit) {
        return Err(crate::Error::invalid_input("limit", "must be 1 to 1000"));
    }
    since
        .map(|t| crate::store::parse_time("since", t).map(|t| t.timestamp_millis()))
        .transpose()
}
