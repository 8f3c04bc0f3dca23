//! Unit tests of the matrix's providers and pricing.

use super::*;

#[test]
fn providers_are_spelled_one_way() {
    assert_eq!(canonical_provider(" Gemini ").unwrap(), "google");
    assert_eq!(canonical_provider("OpenAI").unwrap(), "openai");
    let err = canonical_provider("acme").unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid_input", Some("provider"))
    );
}

#[test]
fn a_model_is_metered_when_either_token_price_is_set() {
    let flat = Pricing {
        per_request: 2.0,
        ..Pricing::default()
    };
    assert!(!flat.is_metered());
    for (input, output) in [(Some(1.0), None), (None, Some(1.0))] {
        let metered = Pricing {
            input_per_mtok: input,
            output_per_mtok: output,
            ..flat
        };
        assert!(metered.is_metered(), "{input:?} {output:?}");
    }
}
