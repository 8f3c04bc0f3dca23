//! The one seam between the two SQL dialects.
//!
//! A statement is written once, in PostgreSQL's spelling with `$1`-style placeholders (which
//! sqlx binds by number on SQLite too), and the few places where the backends spell a thing
//! differently call a [`Dialect`] function: clock arithmetic in epoch milliseconds, intervals,
//! JSON, casts and row locks. [`Dialect::spell`] handles what is only a matter of spelling in
//! a whole statement (`now()` and the casts SQLite has no use for). Statements that differ in
//! substance (an advisory lock, PostgreSQL's `UNNEST` against SQLite's `json_each`) are still
//! written per backend, next to each other.

use super::{Backend, Pool};

/// How one backend spells the parts of SQL that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect(Backend);

/// SQLite's `now()`: an RFC 3339 UTC stamp with milliseconds, the format every SQLite
/// timestamp column holds.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The casts PostgreSQL needs and SQLite ignores: uuids, times and JSON are text there,
/// integers are 64-bit and numbers take the column's affinity.
const DROPPED_CASTS: [&str; 7] = [
    "::timestamptz",
    "::uuid",
    "::jsonb",
    "::text",
    "::int8",
    "::numeric",
    "::float8",
];

impl Dialect {
    /// PostgreSQL's spelling.
    pub const POSTGRES: Dialect = Dialect(Backend::Postgres);
    /// SQLite's spelling.
    pub const SQLITE: Dialect = Dialect(Backend::Sqlite);

    /// The dialect of `pool`.
    pub fn of(pool: &Pool) -> Self {
        match pool {
            Pool::Postgres(_) => Self::POSTGRES,
            Pool::Sqlite(_) => Self::SQLITE,
        }
    }

    /// `statement` (written for PostgreSQL) in this dialect: on SQLite `now()` becomes a text
    /// stamp and the casts in [`DROPPED_CASTS`] are removed. Placeholders stay `$n`.
    pub fn spell(self, statement: &str) -> String {
        match self.0 {
            Backend::Postgres => statement.to_owned(),
            Backend::Sqlite => {
                let mut out = statement.replace("now()", SQLITE_NOW);
                for cast in DROPPED_CASTS {
                    out = out.replace(cast, "");
                }
                out
            }
        }
    }

    /// The current time of the database.
    pub fn now(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "now()",
            Backend::Sqlite => SQLITE_NOW,
        }
    }

    /// The timestamp `expr` as integer milliseconds since the Unix epoch, a half millisecond
    /// rounded up (NULL stays NULL).
    ///
    /// On PostgreSQL through `date_part`'s float8 seconds, not `extract`'s numeric: half the
    /// cost per row, which a claim pays on every item it ranks and returns. The float's
    /// microseconds are recovered exactly (rounded to a whole microsecond) for any time before
    /// 2100, then rounded to milliseconds in float8, where a quotient by 1,000 is never within
    /// rounding error of a whole number it does not equal. The result equals `extract`'s at
    /// every time from 1970 to 2100, and before 1970 except at a half millisecond, which
    /// `extract` rounds away from zero (`dialect_epoch_ms_matches_extract` in
    /// `core/tests/storage.rs`).
    pub fn epoch_ms(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("floor((round(date_part('epoch', {expr}) * 1000000) + 500) / 1000)::int8")
            }
            Backend::Sqlite => {
                format!("CAST(round((julianday({expr}) - 2440587.5) * 86400000) AS INTEGER)")
            }
        }
    }

    /// The database clock in epoch milliseconds, so instances with skewed clocks agree.
    pub fn now_ms(self) -> String {
        self.epoch_ms(match self.0 {
            Backend::Postgres => "now()",
            Backend::Sqlite => "'now'",
        })
    }

    /// A timestamp from `param`, epoch milliseconds as a float (NULL stays NULL).
    pub fn from_epoch_ms(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("to_timestamp({param}::float8 / 1000)"),
            Backend::Sqlite => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', {param} / 1000.0, 'unixepoch')")
            }
        }
    }

    /// The time `ms_param` milliseconds after the database's now.
    pub fn now_plus_ms(self, ms_param: &str) -> String {
        self.from_epoch_ms(&format!("({} + {ms_param})", self.now_ms()))
    }

    /// The database's now as RFC 3339 UTC text with milliseconds, for JSON built in SQL.
    pub fn now_text(self) -> &'static str {
        match self.0 {
            Backend::Postgres => {
                r#"to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
            }
            Backend::Sqlite => SQLITE_NOW,
        }
    }

    /// The JSON array `column` with the JSON object text `object` appended.
    pub fn json_push(self, column: &str, object: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{column} || jsonb_build_array({object}::jsonb)"),
            Backend::Sqlite => format!("json_insert({column}, '$[#]', json({object}))"),
        }
    }

    /// The JSON array `column` with the JSON object text `object` appended, keeping its last
    /// `cap` elements.
    pub fn json_push_capped(self, column: &str, object: &str, cap: usize) -> String {
        let pushed = self.json_push(column, object);
        match self.0 {
            Backend::Postgres => format!(
                "(SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb) \
                 FROM jsonb_array_elements({pushed}) WITH ORDINALITY AS t(e, n) \
                 WHERE n > jsonb_array_length({column}) + 1 - {cap})"
            ),
            Backend::Sqlite => format!(
                "(SELECT json_group_array(json(value)) FROM (SELECT key, value \
                 FROM json_each({pushed}) WHERE key > json_array_length({column}) - {cap} \
                 ORDER BY key))"
            ),
        }
    }

    /// The elements of the JSON array of objects `param` as rows named `x` (for
    /// `INSERT … SELECT … FROM`); read their fields with [`Dialect::row_text`] and
    /// [`Dialect::row_json`]. One statement writes a whole batch.
    pub fn json_rows(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("jsonb_array_elements({param}::jsonb) AS x"),
            Backend::Sqlite => format!("json_each({param}) AS x"),
        }
    }

    /// Field `key` of a [`Dialect::json_rows`] row, as text (a number or boolean too: cast it
    /// with `::int8`, which SQLite drops).
    pub fn row_text(self, key: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("(x->>'{key}')"),
            Backend::Sqlite => format!("json_extract(x.value, '$.{key}')"),
        }
    }

    /// Field `key` (an array or object) of a [`Dialect::json_rows`] row, as the backend's JSON.
    pub fn row_json(self, key: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("(x->'{key}')"),
            Backend::Sqlite => format!("json_extract(x.value, '$.{key}')"),
        }
    }

    /// The text array `column` (JSON text on SQLite) with the text `param` appended.
    pub fn array_push(self, column: &str, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("array_append({column}, {param}::text)"),
            Backend::Sqlite => format!("json_insert({column}, '$[#]', {param})"),
        }
    }

    /// A JSON object built from `pairs` of key and SQL expression, as text.
    pub fn json_object(self, pairs: &[(&str, &str)]) -> String {
        let args: Vec<String> = pairs.iter().map(|(k, v)| format!("'{k}', {v}")).collect();
        match self.0 {
            Backend::Postgres => format!("jsonb_build_object({})::text", args.join(", ")),
            Backend::Sqlite => format!("json_object({})", args.join(", ")),
        }
    }

    /// True when the timestamp `expr` has passed.
    pub fn is_past(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{expr} <= now()"),
            Backend::Sqlite => format!("julianday({expr}) <= julianday('now')"),
        }
    }

    /// True when the timestamp `expr` is at least `ms_param` milliseconds old.
    pub fn older_than_ms(self, expr: &str, ms_param: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("{expr} <= now() - make_interval(secs => {ms_param}::float8 / 1000)")
            }
            Backend::Sqlite => {
                format!("julianday({expr}) + {ms_param} / 86400000.0 <= julianday('now')")
            }
        }
    }

    /// A nullable column of a unique key whose NULLs are equal, as an `ON CONFLICT` target
    /// names it: PostgreSQL's `UNIQUE NULLS NOT DISTINCT` takes the column, SQLite's index is
    /// on `ifnull(column, '')`.
    pub fn nulls_not_distinct(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => column.to_owned(),
            Backend::Sqlite => format!("ifnull({column}, '')"),
        }
    }

    /// The JSON text `param` as the backend's JSON value.
    pub fn json(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{param}::jsonb"),
            Backend::Sqlite => param.to_owned(),
        }
    }

    /// The JSON column `expr` as a JSON value inside [`Dialect::json_object`] (SQLite keeps
    /// JSON as text, which would be embedded as a string).
    pub fn json_value(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => expr.to_owned(),
            Backend::Sqlite => format!("json({expr})"),
        }
    }

    /// The timestamp `expr` as RFC 3339 UTC text at the column's full precision (microseconds
    /// on PostgreSQL, milliseconds as SQLite stores them), which reads back as the same
    /// instant: what a page's cursor holds.
    pub fn stamp_text(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!(r#"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#)
            }
            Backend::Sqlite => expr.to_owned(),
        }
    }

    /// The hour the timestamp `expr` falls in, as RFC 3339 UTC text (`2026-12-05T04:00:00Z`).
    pub fn hour_text(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => format!(
                r#"to_char(date_trunc('hour', {expr} AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')"#
            ),
            Backend::Sqlite => format!("strftime('%Y-%m-%dT%H:00:00Z', {expr})"),
        }
    }

    /// The text of `key` in the JSON object `expr` (NULL when absent).
    pub fn json_text(self, expr: &str, key: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{expr}->>'{key}'"),
            Backend::Sqlite => format!("json_extract({expr}, '$.{key}')"),
        }
    }

    /// The elements of the JSON array of strings `param`, as rows (for `x IN (…)`).
    pub fn json_strings(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("SELECT jsonb_array_elements_text({param}::jsonb)"),
            Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
        }
    }

    /// The elements of the JSON array of uuids `param`, as rows (for `uuid_column IN (…)`).
    pub fn json_uuids(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("SELECT jsonb_array_elements_text({param}::jsonb)::uuid"),
            Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
        }
    }

    /// The pairs of the JSON array of two-element arrays `param`, as rows of columns `a` and
    /// `b` (text on PostgreSQL: cast them).
    pub fn json_pairs(self, param: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!(
                    "SELECT x->>0 AS a, x->>1 AS b FROM jsonb_array_elements({param}::jsonb) AS x"
                )
            }
            Backend::Sqlite => format!(
                "SELECT json_extract(value, '$[0]') AS a, json_extract(value, '$[1]') AS b \
                 FROM json_each({param})"
            ),
        }
    }

    /// The array column `column` as JSON text (SQLite stores arrays as JSON text already).
    pub fn array_json(self, column: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("to_jsonb({column})::text"),
            Backend::Sqlite => column.to_owned(),
        }
    }

    /// The JSON array text `param` as an array of `element` (`text`, `uuid`) for an array
    /// column (SQLite stores the JSON text).
    pub fn json_array(self, param: &str, element: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("ARRAY(SELECT jsonb_array_elements_text({param}::jsonb)::{element})")
            }
            Backend::Sqlite => param.to_owned(),
        }
    }

    /// The function of the largest of its arguments (SQLite's `max` of several arguments).
    pub fn greatest(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "greatest",
            Backend::Sqlite => "max",
        }
    }

    /// The function of the smallest of its arguments (SQLite's `min` of several arguments).
    pub fn least(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "least",
            Backend::Sqlite => "min",
        }
    }

    /// The condition that `column` is among the values `subquery` selects; PostgreSQL reads
    /// them as one array, which the planner looks up through the column's index.
    pub fn in_rows(self, column: &str, subquery: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{column} = ANY(ARRAY({subquery}))"),
            Backend::Sqlite => format!("{column} IN ({subquery})"),
        }
    }

    /// The lock of rows a batch takes so that concurrent batches skip each other's rows.
    pub fn skip_locked(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// The length of the JSON array `expr`.
    pub fn json_array_length(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("jsonb_array_length({expr})"),
            Backend::Sqlite => format!("json_array_length({expr})"),
        }
    }

    /// A credit amount as stored: PostgreSQL's `numeric(14,4)` keeps four decimals exactly;
    /// SQLite's floats are rounded to four, so the same movements leave the same balance.
    pub fn money(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => expr.to_owned(),
            Backend::Sqlite => format!("round({expr}, 4)"),
        }
    }

    /// A numeric column read as a float.
    pub fn float(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("{expr}::float8"),
            Backend::Sqlite => format!("CAST({expr} AS REAL)"),
        }
    }

    /// The row lock of a `SELECT` inside a transaction. SQLite has one writer, and
    /// `BEGIN IMMEDIATE` already holds it.
    pub fn for_update(self) -> &'static str {
        match self.0 {
            Backend::Postgres => "FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// The elements of the JSON array of strings `expr` (a column or a parameter) as rows of
    /// the table `alias`, each in `alias.value`.
    pub fn json_values(self, expr: &str, alias: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("jsonb_array_elements_text({expr}::jsonb) AS {alias}(value)")
            }
            Backend::Sqlite => format!("json_each({expr}) AS {alias}"),
        }
    }

    /// The aggregate of the text `expr` over a group as a JSON array's text (`[]` for none),
    /// sorted on PostgreSQL; on SQLite in the order the rows come (select them sorted).
    pub fn json_agg_text(self, expr: &str) -> String {
        match self.0 {
            Backend::Postgres => {
                format!("coalesce(jsonb_agg({expr} ORDER BY {expr}), '[]'::jsonb)::text")
            }
            Backend::Sqlite => format!("json_group_array({expr})"),
        }
    }

    /// The milliseconds from the timestamp `start` to the timestamp `end` (one interval, not
    /// two epochs: half the arithmetic per row).
    pub fn ms_between(self, start: &str, end: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("(extract(epoch FROM {end} - {start}) * 1000)::int8"),
            Backend::Sqlite => format!(
                "CAST(round((julianday({end}) - julianday({start})) * 86400000) AS INTEGER)"
            ),
        }
    }

    /// The timestamp `expr` plus `ms` milliseconds (an integer expression).
    pub fn plus_ms(self, expr: &str, ms: &str) -> String {
        match self.0 {
            Backend::Postgres => format!("({expr} + make_interval(secs => {ms}::float8 / 1000))"),
            Backend::Sqlite => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', julianday({expr}) + {ms} / 86400000.0)")
            }
        }
    }

    /// `outer` joined to the rows of `table` (as `alias`; its `columns`, which an index may
    /// cover) that `condition` (naming both) picks for each of its rows: PostgreSQL's `CROSS JOIN LATERAL` over a subquery it may
    /// not flatten (`OFFSET 0`), which probes the table's index once per outer row whatever
    /// its estimates (a plain join over a few outer rows with a per-row time bound is planned
    /// as a scan of the whole table); SQLite plans the plain join that way itself.
    pub fn join_each(
        self,
        outer: &str,
        (table, alias): (&str, &str),
        columns: &str,
        condition: &str,
    ) -> String {
        match self.0 {
            Backend::Postgres => format!(
                "{outer} CROSS JOIN LATERAL \
                 (SELECT {columns} FROM {table} {alias} WHERE {condition} OFFSET 0) {alias}"
            ),
            Backend::Sqlite => format!("{outer} JOIN {table} {alias} ON {condition}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn sqlite_spelling_drops_casts_and_respells_the_clock() {
        assert_eq!(
            Dialect::SQLITE
                .spell("UPDATE t SET a = $1::uuid, b = $2::jsonb, at = now() WHERE id = $3"),
            "UPDATE t SET a = $1, b = $2, at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = $3"
        );
        assert_eq!(
            Dialect::POSTGRES.spell("SELECT $1::uuid"),
            "SELECT $1::uuid"
        );
    }

    #[test]
    fn clock_arithmetic_is_spelt_per_backend() {
        assert_eq!(
            Dialect::POSTGRES.epoch_ms("open_until"),
            "floor((round(date_part('epoch', open_until) * 1000000) + 500) / 1000)::int8"
        );
        assert!(Dialect::SQLITE.now_ms().contains("julianday('now')"));
        assert_eq!(Dialect::SQLITE.for_update(), "");
        assert_eq!(Dialect::POSTGRES.json("$4"), "$4::jsonb");
    }
}
