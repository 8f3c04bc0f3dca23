//! Entity linking: a fact's deal, contact and company names turned into the platform's ids by
//! a lookup the caller provides. Keel does not know the platform's tables (the original
//! queried columns that do not exist, §3.7): the caller gives an [`EntityLinker`] (a Rust
//! implementation, a Python or JavaScript callback through the bindings) or SQL statements
//! ([`SqlLinker`]) that Keel runs with the name escaped for `LIKE`.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Keel;
use crate::error::{Error, Result};
use crate::store::{Pool, on_pool};

/// The kinds of entity a fact links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A deal.
    Deal,
    /// A contact.
    Contact,
    /// A company.
    Company,
}

impl EntityKind {
    /// The name as callbacks receive it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Deal => "deal",
            EntityKind::Contact => "contact",
            EntityKind::Company => "company",
        }
    }
}

/// Finds the platform's id of an entity by name.
pub trait EntityLinker: Send + Sync {
    /// The id of the `kind` named `name` that `user` of `org` may see, or `None`.
    fn link<'a>(
        &'a self,
        org: Uuid,
        user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;
}

/// `name` as a `LIKE` pattern matching any text that contains it: `\`, `%` and `_` escaped
/// with `\` (write `ESCAPE '\'` after the pattern), surrounded by `%`.
pub fn like_pattern(name: &str) -> String {
    crate::store::like_contains(name.trim())
}

/// One SQL statement per kind, run on the handle's database. Each takes `$1` the org id
/// (text), `$2` the user id, `$3` the name as a `LIKE` pattern ([`like_pattern`]) and `$4`
/// the name as written, and returns the id as text in its first column (the first row wins,
/// so order by the best match), for example:
///
/// ```sql
/// SELECT id::text FROM public.deals
/// WHERE owner_id = $2::uuid AND name ILIKE $3 ESCAPE '\'
/// ORDER BY lower(name) = lower($4) DESC, updated_at DESC LIMIT 1
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntitySql {
    /// Finds a deal.
    pub deal: Option<String>,
    /// Finds a contact.
    pub contact: Option<String>,
    /// Finds a company.
    pub company: Option<String>,
}

/// An [`EntityLinker`] running [`EntitySql`] statements.
#[derive(Debug, Clone)]
pub struct SqlLinker {
    keel: Keel,
    sql: EntitySql,
}

impl SqlLinker {
    /// A linker running `sql` on `keel`'s database.
    pub fn new(keel: &Keel, sql: EntitySql) -> Self {
        Self {
            keel: keel.clone(),
            sql,
        }
    }
}

impl EntityLinker for SqlLinker {
    fn link<'a>(
        &'a self,
        org: Uuid,
        user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let statement = match kind {
                EntityKind::Deal => &self.sql.deal,
                EntityKind::Contact => &self.sql.contact,
                EntityKind::Company => &self.sql.company,
            };
            let Some(statement) = statement else {
                return Ok(None);
            };
            let pool: &Pool = self.keel.pool()?;
            let pattern = like_pattern(name);
            let row: Option<(Option<String>,)> = on_pool!(pool, |conn, _sql| {
                sqlx::query_as(statement)
                    .bind(org.to_string())
                    .bind(user)
                    .bind(&pattern)
                    .bind(name.trim())
                    .fetch_optional(conn)
                    .await
                    .map_err(|e| {
                        Error::invalid_input(
                            format!("entity_sql.{}", kind.as_str()),
                            format!("failed: {e}"),
                        )
                    })?
            });
            Ok(row.and_then(|r| r.0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern(" Acme "), "%Acme%");
        assert_eq!(like_pattern("50%_off\\x"), "%50\\%\\_off\\\\x%");
    }
}
