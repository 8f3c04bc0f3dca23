//! Any bytes through the SKILL.md parser: it must answer (a skill or findings), never panic or
//! hang, and what it answers must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = keel::skills::parse("SKILL.md", Some("fuzz-skill"), data);
    // A skill comes back exactly when no finding is an error.
    assert_eq!(parsed.skill.is_some(), !parsed.has_errors());
    // YAML counts a lone `\r` as a line break too.
    let lines = data.iter().filter(|b| matches!(b, b'\n' | b'\r')).count() + 2;
    for d in &parsed.diagnostics {
        assert!(!d.code.is_empty());
        assert!(d.line <= lines, "{d} is past the end of the input");
    }
    if let Some(skill) = &parsed.skill {
        assert_eq!(skill.name, "fuzz-skill");
        assert!(skill.description.chars().count() <= keel::skills::MAX_DESCRIPTION);
    }
});
