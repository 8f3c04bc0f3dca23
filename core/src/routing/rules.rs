//! The rules stage: messages that are about the conversation, not about sales work.
//!
//! Every rule matches the **whole** canonical message (a greeting may carry a name or a
//! "there", a help request a "please"), with word boundaries, so a real question that starts
//! like one is never swallowed: "hi" and "how do I use this?" are general, "How do I prep for my
//! Acme meeting?" goes on to the skills. The original matched "how do/can I" at the start of any
//! message and answered such questions with `general` at confidence 1.0.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a general message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneralIntent {
    /// "hi", "good morning".
    Greeting,
    /// "thanks", "sounds good".
    Thanks,
    /// "help", "what can you do?".
    Help,
    /// "yes", "nope".
    YesNo,
    /// Praise or complaint about the assistant ("great job", "that was wrong").
    Feedback,
}

impl GeneralIntent {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GeneralIntent::Greeting => "greeting",
            GeneralIntent::Thanks => "thanks",
            GeneralIntent::Help => "help",
            GeneralIntent::YesNo => "yes_no",
            GeneralIntent::Feedback => "feedback",
        }
    }
}

/// Trailing words a short social message may carry: a name, "there", "team", "keel".
const ADDRESS: &str = r"(?:\s+(?:there|all|team|everyone|folks|keel|bot|again|guys|[\p{L}]+))?";
/// Trailing punctuation and emoji.
const END: &str = r"[\s\p{P}\p{S}]*$";

static RULES: LazyLock<Vec<(GeneralIntent, Regex)>> = LazyLock::new(|| {
    let rule = |intent, body: &str| {
        let pattern = format!(r"^(?:{body}){END}");
        (intent, Regex::new(&pattern).expect("routing rule compiles"))
    };
    vec![
        rule(
            GeneralIntent::Greeting,
            &format!(
                r"(?:hi|hello|hey|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening|day)){ADDRESS}"
            ),
        ),
        rule(
            GeneralIntent::Thanks,
            r"(?:thanks|thank\s+you|thx|ty|cheers|great|awesome|perfect|nice|cool|ok|okay|got\s+it|sounds\s+good|that\s+works|much\s+appreciated)(?:\s+(?:so\s+much|a\s+lot|very\s+much|again|keel))?",
        ),
        rule(
            GeneralIntent::Help,
            r"(?:please\s+)?(?:help|support|assist|guide|tutorial|commands|help\s+me|i\s+need\s+help|what\s+can\s+you\s+do|what\s+can\s+you\s+help(?:\s+me)?\s+with|what\s+do\s+you\s+do|who\s+are\s+you|what\s+are\s+you|how\s+do\s+(?:i|you)\s+use\s+(?:this|you|keel)|how\s+does\s+this\s+work|what\s+are\s+your\s+(?:capabilities|features|commands))(?:\s+please)?",
        ),
        rule(
            GeneralIntent::YesNo,
            r"(?:yes|no|sure|nope|yep|yeah|yup|nah|no\s+thanks|not\s+now|of\s+course|correct|exactly)",
        ),
        rule(
            GeneralIntent::Feedback,
            r"(?:great|good|nice)\s+(?:job|work)|well\s+done|love\s+(?:this|it)|(?:that|this)\s+(?:was|is)\s+(?:wrong|bad|unhelpful|not\s+helpful|helpful|great)",
        ),
    ]
});

/// The general intent of a canonical message, when a rule matches all of it.
pub fn general_intent(canonical: &str) -> Option<GeneralIntent> {
    // Rules are about short social messages; anything longer is work.
    if canonical.len() > 64 {
        return None;
    }
    RULES
        .iter()
        .find(|(_, re)| re.is_match(canonical))
        .map(|(intent, _)| *intent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::text::canonical;

    fn intent(m: &str) -> Option<GeneralIntent> {
        general_intent(&canonical(m))
    }

    #[test]
    fn whole_social_messages_are_general() {
        assert_eq!(intent("Hi!"), Some(GeneralIntent::Greeting));
        assert_eq!(intent("good morning team"), Some(GeneralIntent::Greeting));
        assert_eq!(intent("hey Sarah 👋"), Some(GeneralIntent::Greeting));
        assert_eq!(intent("Thanks a lot!"), Some(GeneralIntent::Thanks));
        assert_eq!(intent("what can you do?"), Some(GeneralIntent::Help));
        assert_eq!(intent("nope"), Some(GeneralIntent::YesNo));
        assert_eq!(intent("great job"), Some(GeneralIntent::Feedback));
    }

    #[test]
    fn questions_that_start_like_them_are_not() {
        assert_eq!(intent("How do I prep for my Acme meeting?"), None);
        assert_eq!(intent("hi, what's the status of the Globex deal?"), None);
        assert_eq!(intent("help me draft an email to Jane"), None);
        assert_eq!(intent("thanks, now show my pipeline"), None);
        assert_eq!(intent("yes draft the follow-up"), None);
    }
}
