//! The SKILL.md format: parsing, one-pass validation with positions, and hostile input.

use keel::skills::{Namespace, Priority, Severity, parse};

const VALID: &str = "---
name: deal-status
description: Summarise where a deal stands and what is blocking it. Use when a rep asks about a deal's status.
metadata:
  namespace: copilot
  priority: high
  category: sales-ai
  triggers:
    - phrase: deal status
      confidence: 0.85
      examples:
        - where are we with the Acme deal?
        - what's blocking the Globex renewal
  keywords: [deal, status, blocker]
  required_context: [company_name]
  outputs: [summary]
---
# Deal status

Look up ${deal.name} for ${company_name|capitalize}.
";

fn codes(text: &str, folder: Option<&str>) -> Vec<(&'static str, usize)> {
    parse("SKILL.md", folder, text.as_bytes())
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line))
        .collect()
}

#[test]
fn a_valid_skill_parses_with_every_field() {
    let parsed = parse(
        "skills/deal-status/SKILL.md",
        Some("deal-status"),
        VALID.as_bytes(),
    );
    assert_eq!(parsed.diagnostics, vec![]);
    let skill = parsed.skill.expect("parsed");
    assert_eq!(skill.name, "deal-status");
    assert_eq!(skill.namespace, Some(Namespace::Copilot));
    assert_eq!(skill.priority, Priority::High);
    assert_eq!(skill.category.as_deref(), Some("sales-ai"));
    assert_eq!(skill.triggers.len(), 1);
    assert_eq!(skill.triggers[0].phrase, "deal status");
    assert_eq!(skill.triggers[0].confidence, 0.85);
    assert_eq!(skill.triggers[0].examples.len(), 2);
    assert_eq!(skill.keywords, ["deal", "status", "blocker"]);
    assert!(skill.body.starts_with("# Deal status"));
}

#[test]
fn every_problem_is_reported_in_one_pass_with_its_line() {
    let text = format!(
        "---
name: Deal--Status
description: {}
owner: sales
metadata:
  namespace: email
  priority: urgent
  triggers:
    - phrase: deal status
      confidence: 1.5
    - examples: [no phrase here]
  keywords: deal
  colour: blue
---
body
",
        "x".repeat(1100)
    );
    let parsed = parse("SKILL.md", Some("deal-status"), text.as_bytes());
    assert!(parsed.skill.is_none());
    let got: Vec<_> = parsed
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.severity))
        .collect();
    let expected = [
        ("unknown_key", 4, Severity::Warning),
        ("invalid_name", 2, Severity::Error),
        ("name_mismatch", 2, Severity::Error),
        ("description_too_long", 3, Severity::Error),
        ("unknown_key", 13, Severity::Warning),
        ("invalid_value", 6, Severity::Error),
        ("invalid_value", 7, Severity::Error),
        ("invalid_value", 10, Severity::Error),
        ("missing_field", 11, Severity::Error),
        ("wrong_type", 12, Severity::Error),
    ];
    for item in expected {
        assert!(got.contains(&item), "missing {item:?} in {got:?}");
    }
    assert_eq!(got.len(), expected.len(), "{got:?}");
    let confidence = parsed.diagnostics.iter().find(|d| d.line == 10).unwrap();
    assert_eq!(
        confidence.field.as_deref(),
        Some("metadata.triggers[0].confidence")
    );
    assert_eq!(confidence.column, 19);
}

#[test]
fn broken_frames_and_hostile_input_get_a_code_and_a_position() {
    assert_eq!(codes("name: x\n", None), [("missing_frontmatter", 1)]);
    assert_eq!(
        codes("---\nname: x\ndescription: y\n", None),
        [("unterminated_frontmatter", 1)]
    );
    assert_eq!(
        codes("---\nname: x\nname: y\n---\n", None),
        [("duplicate_key", 3)]
    );
    assert_eq!(codes("---\nname: [x\n---\n", None)[0].0, "yaml_syntax");

    let bytes = b"---\nname: deal-status\ndescription: ok\n---\nbody \xff\n";
    let parsed = parse("SKILL.md", None, bytes);
    assert_eq!(
        (
            parsed.diagnostics[0].code,
            parsed.diagnostics[0].line,
            parsed.diagnostics[0].column
        ),
        ("not_utf8", 5, 6)
    );
    assert_eq!(codes("", None), [("missing_frontmatter", 1)]);
    let big = parse(
        "SKILL.md",
        None,
        &vec![b'a'; keel::skills::MAX_FILE_BYTES + 1],
    );
    assert_eq!(big.diagnostics[0].code, "file_too_large");

    // Alias bombs never expand: anchors are refused outright.
    let bomb = "---\nname: x\ndescription: y\na: &a [\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b]\n---\n";
    assert_eq!(codes(bomb, None), [("yaml_anchor", 4)]);
    // Deep flow nesting is cut before the parser sees it.
    let deep = format!(
        "---\nname: x\ndescription: y\nm: {}{}\n---\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(codes(&deep, None)[0].0, "too_deep");
    // Deep block nesting within the size limit parses without trouble.
    let block: String = (0..200).map(|i| format!("{}- \n", " ".repeat(i))).collect();
    let parsed = parse(
        "SKILL.md",
        None,
        format!("---\nname: x\ndescription: y\nm:\n{block}---\nbody").as_bytes(),
    );
    assert!(
        parsed.diagnostics.iter().all(|d| d.code == "unknown_key"),
        "{:?}",
        parsed.diagnostics
    );
}

#[test]
fn reserved_words_and_spec_name_rules() {
    for (name, ok) in [
        ("deal-status", true),
        ("a", true),
        ("-lead", false),
        ("lead-", false),
        ("lead--scan", false),
        ("Lead", false),
        ("lead_scan", false),
        ("claude-helper", false),
        (&"x".repeat(65), false),
    ] {
        let text = format!("---\nname: {name}\ndescription: d\n---\nbody\n");
        let parsed = parse("SKILL.md", None, text.as_bytes());
        assert_eq!(
            parsed.skill.is_some(),
            ok,
            "{name}: {:?}",
            parsed.diagnostics
        );
    }
}

fn repo_skills() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills")
}

#[test]
fn the_skills_library_validates_and_covers_the_platform() {
    let library = keel::skills::load_library(&repo_skills()).expect("read skills/");
    let problems: Vec<String> = library
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        library.skills.len() >= 30,
        "{} skills",
        library.skills.len()
    );
    for name in [
        "slack-deal-query",
        "slack-contact-query",
        "slack-pipeline-query",
        "slack-history-query",
        "slack-coaching-query",
        "slack-competitive-query",
        "slack-actions-query",
        "slack-general-query",
    ] {
        let skill = library
            .skills
            .iter()
            .find(|s| s.doc.name == name)
            .expect(name);
        assert_eq!(skill.namespace, Namespace::Slack, "{name}");
    }
    assert!(
        library
            .skills
            .iter()
            .filter(|s| !s.doc.sequence.is_empty())
            .count()
            >= 2
    );
    for skill in &library.skills {
        assert!(
            !skill.doc.triggers.is_empty()
                && skill.doc.triggers.iter().all(|t| !t.examples.is_empty()),
            "{} needs triggers with examples",
            skill.doc.name
        );
    }
}

fn write(root: &std::path::Path, ns: &str, name: &str, extra: &str) {
    let dir = root.join(ns).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("SKILL.md"),
        format!("---\nname: {name}\ndescription: d\nmetadata:\n{extra}---\nSee @{name}/notes.md\n"),
    )
    .unwrap();
}

#[test]
fn a_library_reports_duplicates_missing_references_cycles_and_misplaced_files() {
    let root = std::env::temp_dir().join(format!("keel-skills-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    write(&root, "copilot", "alpha", "  sequence: [beta]\n");
    write(&root, "copilot", "beta", "  sequence: [gamma, alpha]\n");
    write(&root, "fleet", "gamma", "  sequence: [ghost]\n");
    write(&root, "slack", "gamma", "  namespace: slack\n");
    write(&root, "shared", "delta", "  namespace: fleet\n");
    std::fs::create_dir_all(root.join("email").join("x")).unwrap();
    let library = keel::skills::load_library(&root).unwrap();
    let mut got: Vec<(&str, String)> = library
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code,
                d.file.rsplit('/').nth(1).unwrap_or_default().to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("duplicate_name", "gamma".to_owned()),
            (
                "invalid_namespace",
                "keel-skills-".to_owned() + &std::process::id().to_string()
            ),
            ("missing_reference", "gamma".to_owned()),
            ("namespace_mismatch", "delta".to_owned()),
            ("sequence_cycle", "beta".to_owned()),
        ],
        "{:#?}",
        library.diagnostics
    );
    let _ = std::fs::remove_dir_all(&root);
}
