//! Channels a user talks to the platform through besides the web copilot: Slack's Web API
//! client and the ingest of its JSON into the memory store's messages ([`slack`]), and Slack
//! copilot threads with their context extraction ([`threads`]).

pub mod slack;
pub mod threads;

pub use threads::ThreadStore;
