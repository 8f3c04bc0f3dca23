//! The in-process model router: matrix validation, resolution with tier-filtered fallbacks,
//! org overrides, pricing and agent budgets.

use keel::models::{
    Feature, Matrix, ModelEntry, Pricing, Role, Scope, Tier, Unavailable, Usage,
    check_agent_budget, default_rows, resolve,
};
use uuid::Uuid;

fn entry(scope: Scope, feature: Feature, tier: Tier, model: &str, role: Role) -> ModelEntry {
    ModelEntry {
        scope,
        feature,
        tier,
        provider: "openai".into(),
        model_id: model.into(),
        role,
        context_window: 128_000,
        max_tokens: 4096,
        pricing: Pricing {
            per_request: 1.0,
            ..Pricing::default()
        },
    }
}

fn trace() -> Uuid {
    Uuid::new_v4()
}

#[test]
fn default_matrix_has_the_original_21_rows_with_corrected_ids() {
    let rows = default_rows();
    assert_eq!(rows.len(), 21);
    assert!(rows.iter().all(|r| !r.model_id.contains("20250929")));
    let matrix = Matrix::new(rows).expect("the default matrix is valid");
    assert_eq!(matrix.len(), 21);
    for feature in Feature::ALL {
        for tier in Tier::ALL {
            assert!(
                matrix.slot(*feature, *tier, None).primary.is_some(),
                "{feature}/{tier} has a primary"
            );
        }
    }
}

#[test]
fn primary_then_the_tiers_own_fallbacks() {
    let matrix = Matrix::new(default_rows()).unwrap();
    let t = trace();
    let primary = resolve(&matrix, Feature::Copilot, Tier::High, None, t, |_| true).unwrap();
    assert_eq!(
        (&*primary.provider, &*primary.model_id),
        ("anthropic", "claude-opus-4-6")
    );
    assert!(!primary.was_fallback);
    assert_eq!(primary.trace_id, t);
    assert_eq!(primary.tier, Tier::High);
    assert_eq!(primary.credit_cost, 5.0);

    let fallback = resolve(&matrix, Feature::Copilot, Tier::High, None, t, |m| {
        &*m.model_id != "claude-opus-4-6"
    })
    .unwrap();
    assert_eq!(&*fallback.model_id, "gemini-2.5-flash");
    assert!(fallback.was_fallback);
    assert_eq!(fallback.tier, Tier::High);
}

#[test]
fn nothing_usable_says_why() {
    let matrix = Matrix::new(default_rows()).unwrap();
    let open = resolve(&matrix, Feature::Copilot, Tier::Low, None, trace(), |_| {
        false
    })
    .unwrap_err();
    assert_eq!(open.code(), "no_model_available");
    assert!(matches!(
        open,
        keel::Error::NoModelAvailable {
            reason: Unavailable::AllCircuitsOpen,
            candidates: 2,
            ..
        }
    ));

    let empty = Matrix::new(Vec::new()).unwrap();
    let none = resolve(&empty, Feature::Embedding, Tier::Low, None, trace(), |_| {
        true
    })
    .unwrap_err();
    assert!(matches!(
        none,
        keel::Error::NoModelAvailable {
            reason: Unavailable::NotConfigured,
            ..
        }
    ));
}

#[test]
fn an_org_override_replaces_the_platform_slot_for_that_org_only() {
    let org = Uuid::new_v4();
    let mut rows = default_rows();
    rows.push(entry(
        Scope::Org(org),
        Feature::Copilot,
        Tier::Medium,
        "gpt-5",
        Role::Primary,
    ));
    let matrix = Matrix::new(rows).unwrap();
    let mine = resolve(
        &matrix,
        Feature::Copilot,
        Tier::Medium,
        Some(org),
        trace(),
        |_| true,
    )
    .unwrap();
    assert_eq!(&*mine.model_id, "gpt-5");
    let other = resolve(
        &matrix,
        Feature::Copilot,
        Tier::Medium,
        Some(Uuid::new_v4()),
        trace(),
        |_| true,
    )
    .unwrap();
    assert_eq!(&*other.model_id, "claude-sonnet-4-6");
    // Slots the org did not override stay the platform's.
    let low = resolve(
        &matrix,
        Feature::Copilot,
        Tier::Low,
        Some(org),
        trace(),
        |_| true,
    )
    .unwrap();
    assert_eq!(&*low.model_id, "claude-haiku-4-5-20251001");
}

#[test]
fn two_primaries_or_bad_rows_are_rejected_naming_the_field() {
    let two = vec![
        entry(
            Scope::Platform,
            Feature::Copilot,
            Tier::Low,
            "a",
            Role::Primary,
        ),
        entry(
            Scope::Platform,
            Feature::Copilot,
            Tier::Low,
            "b",
            Role::Primary,
        ),
    ];
    let err = Matrix::new(two).unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid_input", Some("primary"))
    );

    let same_order = vec![
        entry(
            Scope::Platform,
            Feature::Copilot,
            Tier::Low,
            "a",
            Role::Fallback(1),
        ),
        entry(
            Scope::Platform,
            Feature::Copilot,
            Tier::Low,
            "b",
            Role::Fallback(1),
        ),
    ];
    assert_eq!(
        Matrix::new(same_order).unwrap_err().field(),
        Some("fallback_order")
    );

    let mut bad_provider = entry(
        Scope::Platform,
        Feature::Copilot,
        Tier::Low,
        "a",
        Role::Primary,
    );
    bad_provider.provider = "acme".into();
    assert_eq!(
        Matrix::new([bad_provider]).unwrap_err().field(),
        Some("provider")
    );

    for price in [-1.0, f64::NAN, f64::INFINITY] {
        let mut row = entry(
            Scope::Platform,
            Feature::Copilot,
            Tier::Low,
            "a",
            Role::Primary,
        );
        row.pricing.per_request = price;
        assert_eq!(Matrix::new([row]).unwrap_err().field(), Some("credit_cost"));
        let mut row = entry(
            Scope::Platform,
            Feature::Copilot,
            Tier::Low,
            "a",
            Role::Primary,
        );
        row.pricing.output_per_mtok = Some(price);
        assert_eq!(
            Matrix::new([row]).unwrap_err().field(),
            Some("output_cost_per_mtok")
        );
    }

    // `gemini` is the same provider as `google`.
    let mut gemini = entry(
        Scope::Platform,
        Feature::Copilot,
        Tier::Low,
        "a",
        Role::Primary,
    );
    gemini.provider = "gemini".into();
    let matrix = Matrix::new([gemini]).unwrap();
    let slot = matrix.slot(Feature::Copilot, Tier::Low, None);
    assert_eq!(&*slot.primary.as_ref().unwrap().provider, "google");
}

#[test]
fn unknown_features_and_tiers_name_the_allowed_values() {
    let err = "chat".parse::<Feature>().unwrap_err();
    assert_eq!(err.field(), Some("feature"));
    assert!(err.to_string().contains("fleet_agent"));
    let err = "ultra".parse::<Tier>().unwrap_err();
    assert_eq!(err.field(), Some("tier"));
    assert!(err.to_string().contains("low, medium, high"));
    assert_eq!(
        "fleet_agent".parse::<Feature>().unwrap(),
        Feature::FleetAgent
    );
}

#[test]
fn token_pricing_wins_when_usage_is_known() {
    let metered = Pricing {
        per_request: 1.5,
        input_per_mtok: Some(3.0),
        output_per_mtok: Some(15.0),
    };
    let usage = Usage::new(1_000_000.0, 100_000.0).unwrap();
    assert!((metered.cost(Some(usage)) - 4.5).abs() < 1e-9);
    assert_eq!(metered.cost(None), 1.5);
    let flat = Pricing {
        per_request: 0.25,
        ..Pricing::default()
    };
    assert_eq!(flat.cost(Some(usage)), 0.25);
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            Usage::new(bad, 0.0).unwrap_err().field(),
            Some("input_tokens")
        );
        assert_eq!(
            Usage::new(0.0, bad).unwrap_err().field(),
            Some("output_tokens")
        );
    }
}

#[test]
fn agent_budgets_match_the_original_table() {
    let briefing = check_agent_budget("morning-briefing", 7.9);
    assert_eq!((briefing.exceeded, briefing.limit), (false, 8.0));
    assert!(check_agent_budget("morning-briefing", 8.0).exceeded);
    assert_eq!(check_agent_budget("meeting-prep", 0.0).limit, 5.0);
    assert_eq!(check_agent_budget("deal-risk-batch", 0.0).limit, 10.0);
    assert!(check_agent_budget("eod-summary", f64::NAN).exceeded);
}

/// A request read from a binding's object names the field at fault, not the request.
#[test]
fn a_request_object_names_the_field_at_fault() {
    use keel::models::ModelRequest;
    use keel::options::{Case, from_value};
    let read =
        |value: serde_json::Value| from_value::<ModelRequest>(Some(value), Case::Camel, "request");
    for (value, field) in [
        (serde_json::json!({"feature": "chat"}), "request.feature"),
        (
            serde_json::json!({"feature": "copilot", "tier": "huge"}),
            "request.tier",
        ),
        (
            serde_json::json!({"feature": "copilot", "orgId": "not-a-uuid"}),
            "request.orgId",
        ),
        (serde_json::json!({"tier": "low"}), "request.feature"),
    ] {
        let err = read(value.clone()).unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some(field)),
            "{value}"
        );
    }
    let ok = read(serde_json::json!({"feature": "copilot", "tier": "", "orgId": ""})).unwrap();
    assert_eq!(
        (ok.tier, ok.org_id),
        (None, None),
        "empty text is absent, as in the original"
    );
    assert_eq!(ok.feature, Some(Feature::Copilot));
}
