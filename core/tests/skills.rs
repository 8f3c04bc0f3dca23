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
    - pattern: deal status
      intent: deal_status
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
    assert_eq!(skill.triggers[0].pattern, "deal status");
    assert_eq!(skill.triggers[0].intent.as_deref(), Some("deal_status"));
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
    // `Deal--Status` is not a key, so it is a display name (the folder is the key).
    let expected = [
        ("unknown_key", 4, Severity::Warning),
        ("deprecated_key", 9, Severity::Warning),
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

    // What the Agent Skills reference validator would also reject.
    let options = keel::skills::ParseOptions { portable: true };
    let portable =
        keel::skills::parse_with("SKILL.md", Some("deal-status"), text.as_bytes(), options);
    let extra: Vec<_> = portable
        .diagnostics
        .iter()
        .filter(|d| !parsed.diagnostics.contains(d))
        .map(|d| (d.code, d.line, d.column, d.severity))
        .collect();
    assert_eq!(
        extra,
        [
            ("flow_style", 11, 17, Severity::Error),
            ("unknown_key", 4, 1, Severity::Error),
            ("name_mismatch", 2, 7, Severity::Error),
        ]
    );
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
    assert_eq!(
        codes("---\nname: x\ndescription: y\n---\nbody \0\n", None),
        [("nul_character", 5)]
    );
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
    std::fs::create_dir_all(dir.join("references")).unwrap();
    std::fs::write(dir.join("references/notes.md"), "Notes.").unwrap();
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
    // alpha names a document it does not have.
    std::fs::remove_file(root.join("copilot/alpha/references/notes.md")).unwrap();
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
            ("missing_reference", "alpha".to_owned()),
            ("missing_reference", "gamma".to_owned()),
            ("namespace_mismatch", "delta".to_owned()),
            ("sequence_cycle", "beta".to_owned()),
        ],
        "{:#?}",
        library.diagnostics
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn skill_with_body(body: &str) -> keel::skills::SkillDoc {
    let text = format!("---\nname: t\ndescription: d\n---\n{body}");
    parse("SKILL.md", None, text.as_bytes())
        .skill
        .expect("valid")
}

fn no_docs(_: &str, _: &str) -> Option<String> {
    None
}

#[test]
fn compile_substitutes_with_modifiers_and_defaults() {
    let context = serde_json::json!({
        "company_name": "acme corp",
        "deal": {"name": "Renewal", "stage": "Negotiation", "contacts": ["Dana", "Marcus", "Priya"]},
        "tags": ["saas", "emea"],
        "seats": 120,
    });
    let skill = skill_with_body(
        "${company_name|capitalize} / ${company_name|upper} / ${deal.stage|lower}\n\
         ${deal.contacts|count} contacts, first ${deal.contacts|first}, last ${deal.contacts|last}\n\
         ${tags|join:\" + \"} / ${tags|join} / ${tags|json} / ${deal.contacts.1}\n\
         owner ${deal.owner|default:\"unassigned\"} / ${deal.owner|upper|default:\"none\"}\n",
    );
    let compiled = keel::skills::compile(&skill, &context, &no_docs).unwrap();
    let body = compiled.content.split("</org-context>\n\n").nth(1).unwrap();
    assert_eq!(
        body,
        "Acme corp / ACME CORP / negotiation\n\
         3 contacts, first Dana, last Priya\n\
         saas + emea / saas, emea / [\"saas\",\"emea\"] / Marcus\n\
         owner unassigned / none\n"
    );
    // The org-context block lists the top-level text and numbers, sorted.
    assert!(
        compiled
            .content
            .starts_with("<org-context>\n- company_name: acme corp\n- seats: 120\n</org-context>")
    );
    assert_eq!(compiled.context_hash.len(), 64);
    // Deterministic: same inputs, same output and hash, whatever the key order.
    let reordered: serde_json::Value = serde_json::from_str(
        r#"{"seats":120,"tags":["saas","emea"],"deal":{"contacts":["Dana","Marcus","Priya"],"stage":"Negotiation","name":"Renewal"},"company_name":"acme corp"}"#,
    )
    .unwrap();
    assert_eq!(
        keel::skills::compile(&skill, &reordered, &no_docs).unwrap(),
        compiled
    );
}

#[test]
fn compile_errors_name_the_path_and_position() {
    let context = serde_json::json!({"deal": {"name": "x"}});
    let docs = |skill: &str, doc: &str| -> Option<String> {
        (skill, doc)
            .eq(&("playbook", "deep.md"))
            .then(|| "x\n ${nope}".into())
    };
    for (body, (code, file, line, column)) in [
        (
            "line one\n  see ${deal.owner}\n",
            ("template_value", "t", 2, 7),
        ),
        (
            "read @playbook/intro.md first",
            ("template_document", "t", 1, 6),
        ),
        // A fault inside an included document is placed in that document.
        (
            "@playbook/deep.md",
            ("template_value", "playbook/deep.md", 2, 2),
        ),
    ] {
        let err = keel::skills::compile(&skill_with_body(body), &context, &docs).unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_skill", Some("body")),
            "{body}"
        );
        let fault = &err.diagnostics()[0];
        assert_eq!(
            (fault.code, fault.file.as_str(), fault.line, fault.column),
            (code, file, line, column),
            "{body}: {err}"
        );
    }
}

/// What no context can fix is found when the file is parsed, with its place in the file (the
/// body starts on line 5 here) and a code per cause.
#[test]
fn template_errors_are_findings_of_the_parse() {
    for (body, code, at, needle) in [
        (
            "${deal.name|shout}",
            "template_modifier",
            (5, 1),
            "`shout` is not a modifier",
        ),
        (
            "ok\n  ${deal.name",
            "template_unclosed",
            (6, 3),
            "`${` is not closed",
        ),
        (
            "${deal.name|join:, }",
            "template_modifier",
            (5, 1),
            "must be quoted",
        ),
        ("${ |upper}", "template_path", (5, 1), "needs a path"),
    ] {
        let text = format!("---\nname: t\ndescription: d\n---\n{body}");
        let parsed = parse("SKILL.md", None, text.as_bytes());
        assert!(parsed.skill.is_none(), "{body}");
        let finding = &parsed.diagnostics[0];
        assert_eq!(
            (finding.code, (finding.line, finding.column)),
            (code, at),
            "{body}"
        );
        assert!(finding.message.contains(needle), "{body}: {finding}");
    }
}

#[test]
fn compile_inlines_documents_and_stops_cycles() {
    let docs = |skill: &str, doc: &str| -> Option<String> {
        match (skill, doc) {
            ("playbook", "intro.md") => Some("Intro for ${company}. @playbook/rules.md".into()),
            ("playbook", "rules.md") => Some("Rule one.".into()),
            ("loop", "a.md") => Some("A then @loop/b.md".into()),
            ("loop", "b.md") => Some("B then @loop/a.md".into()),
            _ => None,
        }
    };
    let context = serde_json::json!({"company": "Acme"});
    let compiled = keel::skills::compile(
        &skill_with_body("Start. @playbook/intro.md End."),
        &context,
        &docs,
    )
    .unwrap();
    assert!(
        compiled
            .content
            .ends_with("Start. Intro for Acme. Rule one. End."),
        "{}",
        compiled.content
    );
    let err = keel::skills::compile(&skill_with_body("@loop/a.md"), &context, &docs).unwrap_err();
    assert_eq!(
        (err.code(), err.diagnostics()[0].code),
        ("invalid_skill", "template_cycle"),
        "{err}"
    );
}

#[test]
fn every_library_skill_compiles_with_a_full_context() {
    let library = keel::skills::load_library(&repo_skills()).unwrap();
    let context = serde_json::json!({
        "company_name": "Acme", "user_name": "sam",
        "deal": {"name": "Renewal", "stage": "Proposal", "amount": 120000, "close_date": "2026-12-15",
                 "owner": "Sam", "activities": [], "contacts": ["Dana"], "days_since_activity": 4},
        "contact": {"name": "Dana Scully", "first_name": "dana", "company": "Acme", "title": "CFO",
                    "email": "dana@acme.test", "last_activity": "2026-11-20", "deals": []},
        "account": {"name": "Acme", "summary": "Logistics", "employees": 900, "activities": []},
        "pipeline": {"total": 1, "commit": 1, "weighted": 1, "changes": [], "by_stage": {}, "open": [],
                     "created": [], "won": [], "lost": []},
        "meeting": {"title": "QBR", "attendees": ["Dana"], "next_steps": []},
        "meetings": [], "tasks": [], "activities": [], "recent_calls": [], "rep": {"name": "Alex"},
        "competitor": {"name": "Rivalsoft"}, "objection": {"text": "too expensive"},
        "email": {"from_name": "Dana", "subject": "Pricing"}, "recording": {"title": "Call", "duration_minutes": 30},
        "record": {"type": "deal", "name": "Renewal"}, "calendar": {"timezone": "Europe/London"},
        "question": {"text": "How does SSO work?"},
    });
    let documents = |name: &str, doc: &str| {
        let skill = library.skills.iter().find(|s| s.doc.name == name)?;
        skill.documents.get(doc).cloned()
    };
    let mut inlined = 0;
    for skill in &library.skills {
        let compiled = keel::skills::compile(&skill.doc, &context, &documents);
        assert!(compiled.is_ok(), "{}: {:?}", skill.doc.name, compiled.err());
        let content = compiled.unwrap().content;
        assert!(!content.contains("${"), "{}", skill.doc.name);
        inlined += usize::from(content.contains("acknowledge the concern in the buyer's words"));
    }
    assert_eq!(
        inlined, 2,
        "objection-handling and slack-competitive-query inline answer-shape.md"
    );
}

#[test]
fn request_values_wait_for_the_request_and_org_values_stay_text() {
    let text = "---\nname: demo\ndescription: d\nmetadata:\n  required_context: [deal]\n---\nDeal ${deal.name|upper} (${deal.stage|default:\"new\"}) for ${company}.\n";
    let skill = keel::skills::parse("SKILL.md", None, text.as_bytes())
        .skill
        .unwrap();
    let context = serde_json::json!({"company": "Acme ${deal.name}"});
    let compiled = keel::skills::compile(&skill, &context, &no_docs).unwrap();
    assert!(
        compiled.content.ends_with(
            "Deal ${deal.name|upper} (${deal.stage|default:\"new\"}) for Acme ${deal.name}.\n"
        ),
        "{}",
        compiled.content
    );
    assert_eq!(compiled.deferred.len(), 2);
    let request = serde_json::json!({"deal": {"name": "Renewal"}});
    let rendered =
        keel::skills::render_request(&compiled.content, &compiled.deferred, &request).unwrap();
    // The org's value is text: its `${` is not evaluated.
    assert!(
        rendered.ends_with("Deal RENEWAL (new) for Acme ${deal.name}.\n"),
        "{rendered}"
    );
    let err = keel::skills::render_request(
        &compiled.content,
        &compiled.deferred,
        &serde_json::json!({}),
    )
    .unwrap_err();
    assert_eq!(
        (err.code(), err.diagnostics()[0].code),
        ("invalid_skill", "template_value")
    );
    // A request root the org context does have is filled at compile time.
    let full = keel::skills::compile(
        &skill,
        &serde_json::json!({"company": "A", "deal": {"name": "x"}}),
        &no_docs,
    )
    .unwrap();
    assert!(full.deferred.is_empty() && full.content.contains("Deal X (new)"));
    // A bad modifier is caught when the file is parsed, even on a value that waits.
    let bad = text.replace("|upper", "|shout");
    let parsed = keel::skills::parse("SKILL.md", None, bad.as_bytes());
    assert!(parsed.skill.is_none());
    assert_eq!(parsed.diagnostics[0].code, "template_modifier");
    assert!(
        parsed.diagnostics[0]
            .message
            .contains("`shout` is not a modifier"),
        "{}",
        parsed.diagnostics[0]
    );
}

/// An org's replacement SKILL.md with 200,000 references to a 100 KB value validates, and
/// would compile to 20 GB: compilation refuses it before building the text.
#[test]
fn compile_output_is_bounded_before_it_is_built() {
    use keel::skills::{MAX_COMPILED_BYTES, compile_source};
    let body = "${c}".repeat(200_000);
    let text = format!("---\nname: bomb\ndescription: d\n---\n{body}\n");
    let context = serde_json::json!({ "c": "x".repeat(100_000) });
    let started = std::time::Instant::now();
    let err = compile_source(&text, &context, &serde_json::Value::Null).unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid_input", Some("template"))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Just under the bound still compiles.
    let fits = format!(
        "---\nname: fits\ndescription: d\n---\n{}\n",
        "${c}".repeat(10)
    );
    let small = serde_json::json!({ "c": "y".repeat(MAX_COMPILED_BYTES / 20) });
    assert!(compile_source(&fits, &small, &serde_json::Value::Null).is_ok());
}

/// `references/passwd.md -> /etc/passwd` would be synced into every org's prompt: a library
/// refuses symbolic links (documents, their folder, SKILL.md files and skill folders).
#[test]
fn a_library_refuses_symbolic_links() {
    let root = std::env::temp_dir().join(format!("keel-skills-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    write(&root, "shared", "deal-notes", "  category: notes\n");
    let refs = root.join("shared/deal-notes/references");
    std::fs::create_dir_all(&refs).unwrap();
    std::fs::write(refs.join("ok.md"), "fine").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", refs.join("passwd.md")).unwrap();
    std::os::unix::fs::symlink(root.join("shared/deal-notes"), root.join("shared/alias")).unwrap();
    let library = keel::skills::load_library(&root).unwrap();
    let refused: Vec<&str> = library
        .diagnostics
        .iter()
        .filter(|d| d.code == "symlink")
        .map(|d| d.file.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "{:?}", library.diagnostics);
    assert!(refused.contains(&"passwd.md") && refused.contains(&"alias"));
    assert!(library.has_errors());
    let skill = &library.skills[0];
    assert_eq!(
        skill.documents.keys().collect::<Vec<_>>(),
        ["notes.md", "ok.md"]
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Keel's own library is portable: the Agent Skills reference validator's rules find nothing.
#[test]
fn the_library_is_portable() {
    let options = keel::skills::ParseOptions { portable: true };
    let library = keel::skills::load_library_with(&repo_skills(), options, |_, _| {}).unwrap();
    assert_eq!(library.diagnostics, vec![]);
    assert_eq!(library.skills.len(), 32);
}

/// An export of the platform-shaped corpus is portable, lists its changes, skips the broken
/// files, and reads back as the same skills (display names from `metadata.display_name`).
#[test]
fn an_exported_corpus_is_portable_and_reads_back_the_same() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/skill-corpus");
    let out = std::env::temp_dir().join(format!("keel_export_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut ticks = 0;
    let report = keel::skills::export_portable(&corpus, &out, |_, _| ticks += 1).unwrap();
    assert_eq!(report.diagnostics, vec![], "the copy is portable");
    assert_eq!((report.skills, ticks), (25, 25));
    let skipped: std::collections::BTreeSet<_> = report.skipped.iter().map(|d| d.code).collect();
    assert_eq!(skipped, ["invalid_value", "missing_reference"].into());
    let count = |code: &str| report.changes.iter().filter(|c| c.code == code).count();
    assert_eq!(count("display_name"), 25);
    assert_eq!(count("block_style"), 1);
    assert_eq!(count("requires_context"), 1);
    assert_eq!(count("reference_key"), 1);
    assert_eq!(count("moved_to_metadata"), 5 + 5);
    assert_eq!(count("layout"), 25);
    let original = keel::skills::load_library(&corpus).unwrap();
    let copy = keel::skills::load_library(&out).unwrap();
    for skill in &copy.skills {
        let key = skill.doc.name.as_str();
        let from = original
            .skills
            .iter()
            .find(|s| s.doc.name.trim_start_matches('_') == key)
            .unwrap_or_else(|| panic!("{key} not in the corpus"));
        assert_eq!(skill.namespace, from.namespace, "{key}");
        assert_eq!(skill.doc.display_name, from.doc.display_name, "{key}");
        assert_eq!(skill.doc.triggers, from.doc.triggers, "{key}");
        assert_eq!(skill.doc.outputs, from.doc.outputs, "{key}");
        assert_eq!(skill.doc.meta, from.doc.meta, "{key}");
        assert_eq!(skill.documents, from.documents, "{key}");
        // Only the inclusion of the renamed reference skill changes in a body.
        assert_eq!(
            skill.doc.body,
            from.doc
                .body
                .replace("@_platform-references/", "@platform-references/"),
            "{key}"
        );
        assert_eq!(
            skill.doc.required_context, from.doc.required_context,
            "{key}"
        );
    }
    std::fs::remove_dir_all(&out).ok();
}
