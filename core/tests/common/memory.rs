//! The conversation the memory tests open.

use keel::memory::{ConversationChannel, ConversationKey};
use uuid::Uuid;

/// rep-7's conversation in `org` on `channel` (with `channel_ref`, if any), untitled.
pub fn key(org: Uuid, channel: ConversationChannel, channel_ref: Option<&str>) -> ConversationKey {
    ConversationKey {
        org_id: org,
        user_id: "rep-7".into(),
        channel,
        channel_ref: channel_ref.map(str::to_owned),
        title: None,
    }
}
