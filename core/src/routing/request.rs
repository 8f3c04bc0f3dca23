//! One message to route, and how the bindings build it.

use serde_json::Value;
use uuid::Uuid;

use super::options::RouteOptions;
use crate::error::Result;
use crate::options::{Case, from_value, require_uuid};
use crate::skills::Channel;

/// One message to route.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    /// The message as the user wrote it.
    pub message: String,
    /// Where it came from.
    pub channel: Channel,
    /// The org whose skills answer.
    pub org: Uuid,
    /// The user, for the log.
    pub user: Option<String>,
    /// This route's options.
    pub options: RouteOptions,
}

impl RouteRequest {
    /// A request with default options.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `channel` for an unknown channel.
    pub fn new(message: impl Into<String>, channel: &str, org: Uuid) -> Result<Self> {
        Ok(Self {
            message: message.into(),
            channel: Channel::parse(channel)?,
            org,
            user: None,
            options: RouteOptions::default(),
        })
    }

    /// A request from a binding's arguments: the org id as text, the route's options as the
    /// object the caller passed (`allow_llm`, `skip_cache`, `trace_id`), spelled in `case`
    /// and named `root` in errors (`""` for Python's keyword arguments).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `channel`, `org_id` or the option.
    pub fn from_parts(
        message: String,
        channel: &str,
        org_id: &str,
        user_id: Option<String>,
        options: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Self> {
        Ok(Self {
            message,
            channel: Channel::parse(channel)?,
            org: require_uuid(&case.spell("org_id"), org_id)?,
            user: user_id,
            options: from_value(options, case, root)?,
        })
    }
}
