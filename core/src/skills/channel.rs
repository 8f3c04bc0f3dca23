//! Channels and the namespaces each one sees.
//!
//! | channel | sees |
//! |---|---|
//! | `web` (also `web_copilot`) | `copilot`, `shared` |
//! | `slack` (also `slack_copilot`) | `slack`, `shared` |
//! | `fleet` (also `fleet_agent`) | `fleet`, `shared` |
//! | `command_centre` (also `command_center`) | `fleet`, `shared` |
//!
//! An unknown channel is an error (`invalid_input`, field `channel`), not "shared only": the
//! original fell back to shared skills for any unknown value, so a misspelt channel silently lost
//! most of its skills instead of failing where the typo is.

use super::format::Namespace;
use crate::error::{Error, Result};

/// Where a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// The web copilot.
    Web,
    /// The Slack copilot.
    Slack,
    /// Background fleet agents.
    Fleet,
    /// The command centre.
    CommandCentre,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 4] = [
        Channel::Web,
        Channel::Slack,
        Channel::Fleet,
        Channel::CommandCentre,
    ];

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Slack => "slack",
            Channel::Fleet => "fleet",
            Channel::CommandCentre => "command_centre",
        }
    }

    /// Reads a channel name, accepting the original's spellings (`web_copilot`,
    /// `slack_copilot`, `fleet_agent`) too.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `channel` for any other value.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "web" | "web_copilot" => Ok(Channel::Web),
            "slack" | "slack_copilot" => Ok(Channel::Slack),
            "fleet" | "fleet_agent" => Ok(Channel::Fleet),
            "command_centre" | "command_center" => Ok(Channel::CommandCentre),
            other => Err(Error::invalid_input(
                "channel",
                format!("unknown channel `{other}`; expected web, slack, fleet or command_centre"),
            )),
        }
    }

    /// The namespaces this channel sees: its own and `shared`.
    pub fn namespaces(self) -> [Namespace; 2] {
        let own = match self {
            Channel::Web => Namespace::Copilot,
            Channel::Slack => Namespace::Slack,
            Channel::Fleet | Channel::CommandCentre => Namespace::Fleet,
        };
        [own, Namespace::Shared]
    }

    /// Whether this channel sees `namespace`.
    pub fn sees(self, namespace: Namespace) -> bool {
        self.namespaces().contains(&namespace)
    }
}

impl std::str::FromStr for Channel {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}
