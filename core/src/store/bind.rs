//! Parameters of the runner's statements, bound in order on either backend.

/// `$query` with `$binds` bound in order (a `query` or a `query_as`, on either backend).
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds.0 {
            query = match bind {
                $crate::store::bind::Bind::Text(v) => query.bind(v),
                $crate::store::bind::Bind::Int(v) => query.bind(v),
                $crate::store::bind::Bind::Float(v) => query.bind(v),
                $crate::store::bind::Bind::Bool(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

/// A parameter of a runner statement.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

/// The parameters of a statement, `$1` first.
#[derive(Debug, Default)]
pub(crate) struct Binds(pub(crate) Vec<Bind>);

/// An id as (uuid column, raw column): a UUID goes in the first, anything else (`system`) in
/// the second.
pub(crate) fn split_id(raw: Option<&str>) -> (Option<String>, Option<String>) {
    match raw {
        None => (None, None),
        Some(raw) => match uuid::Uuid::try_parse(raw) {
            Ok(id) => (Some(id.to_string()), None),
            Err(_) => (None, Some(raw.to_owned())),
        },
    }
}

/// Runs `statement` (PostgreSQL spelling) with `binds` on `pool`: the rows it changed.
pub(crate) async fn execute(
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

/// What the letters' and the runs' listings both filter on.
pub(crate) struct Filters<'a> {
    pub statuses: Vec<&'static str>,
    pub agent: Option<&'a str>,
    /// A UUID or a raw id (`system`).
    pub org: Option<&'a str>,
    /// RFC 3339.
    pub since: Option<&'a str>,
    /// 1 to 1,000.
    pub limit: u32,
}

impl Filters<'_> {
    /// The conditions on `$1` to `$5` (`time` being the listing's time column) and their
    /// binds, then `LIMIT $6`'s bind last; a listing adds its own conditions from `$7`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `limit` (0 or over 1,000), `since` (not RFC 3339),
    /// `agent_name` or `org_id` with a NUL.
    pub(crate) fn conditions(
        &self,
        dialect: crate::store::Dialect,
        time: &str,
    ) -> crate::Result<(String, Vec<Bind>)> {
        if !(1..=1_000).contains(&self.limit) {
            return Err(crate::Error::invalid_input("limit", "must be 1 to 1000"));
        }
        crate::idents::no_nul("agent_name", self.agent.unwrap_or_default())?;
        crate::idents::no_nul("org_id", self.org.unwrap_or_default())?;
        let since = self
            .since
            .map(|t| crate::store::parse_time("since", t).map(|t| t.timestamp_millis()))
            .transpose()?;
        let (org, org_ref) = split_id(self.org);
        let conditions = format!(
            "($1::text IS NULL OR status IN ({}))
               AND ($2::text IS NULL OR agent_name = $2)
               AND ($3::text IS NULL OR org_id = $3::uuid)
               AND ($4::text IS NULL OR org_ref = $4)
               AND ($5::int8 IS NULL OR {time} >= {})",
            dialect.json_strings("$1"),
            dialect.from_epoch_ms("$5"),
        );
        let statuses = (!self.statuses.is_empty())
            .then(|| serde_json::Value::from(self.statuses.clone()).to_string());
        let binds = vec![
            Bind::Text(statuses),
            Bind::Text(self.agent.map(str::to_owned)),
            Bind::Text(org),
            Bind::Text(org_ref),
            Bind::Int(since),
            Bind::Int(Some(i64::from(self.limit))),
        ];
        Ok((conditions, binds))
    }
}
