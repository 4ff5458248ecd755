//! Accept/reject edges of what an endpoint is registered with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn event_types_round_trip_their_wire_names() {
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Ok(t));
        assert_eq!(t.to_string(), t.as_str());
    }
    let err = EventType::parse("usage.crossed").unwrap_err();
    assert_eq!(err.field(), Some("event_types"));
    assert_eq!(
        err.to_string(),
        "Unknown event type 'usage.crossed'; expected one of usage.threshold_crossed, \
         usage.limit_reached, subscription.updated, payment.failed."
    );
}

#[test]
fn an_event_type_set_is_sorted_without_repeats_and_names_every_unknown_entry() {
    let raws = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        EventType::parse_set(&raws(&[
            "payment.failed",
            "usage.threshold_crossed",
            "payment.failed"
        ])),
        Ok(vec![
            EventType::UsageThresholdCrossed,
            EventType::PaymentFailed
        ])
    );
    let errors = EventType::parse_set(&raws(&["a", "payment.failed", "b"])).unwrap_err();
    assert_eq!(
        errors,
        [
            DomainError::UnknownEventType("a".into()),
            DomainError::UnknownEventType("b".into())
        ]
    );
    let errors = EventType::parse_set(&[]).unwrap_err();
    assert_eq!(errors, [DomainError::NoEventTypes]);
    assert_eq!(errors[0].to_string(), "Name at least one event type.");
    assert_eq!(errors[0].field(), Some("event_types"));
}

#[test]
fn webhook_urls_of_the_right_form_are_accepted_and_normalised() {
    for raw in [
        "https://hooks.example.com/doztra",
        "https://hooks.example.com:8443/a?b=c",
        "http://hooks.example.com/",
        "https://10.0.0.7/hook",
        "https://[::1]/hook",
    ] {
        assert!(WebhookUrl::parse(raw).is_ok(), "{raw}");
    }
    let url = WebhookUrl::parse(" HTTPS://Hooks.Example.com ").unwrap();
    assert_eq!(url.as_str(), "https://hooks.example.com/");
    assert!(url.is_https());
    assert_eq!(url.ip_literal(), None);
    let url = WebhookUrl::parse("http://2130706433/").unwrap();
    assert!(!url.is_https());
    assert_eq!(url.ip_literal(), Some("127.0.0.1".parse().unwrap()));
}

#[test]
fn webhook_urls_of_the_wrong_form_say_why() {
    for (raw, problem) in [
        ("", UrlProblem::Unparsable),
        ("hooks.example.com", UrlProblem::Unparsable),
        ("ftp://hooks.example.com/", UrlProblem::Scheme),
        ("file:///etc/passwd", UrlProblem::Scheme),
        (
            "https://user:pw@hooks.example.com/",
            UrlProblem::Credentials,
        ),
        ("https://user@hooks.example.com/", UrlProblem::Credentials),
        ("https://hooks.example.com/#x", UrlProblem::Fragment),
    ] {
        assert_eq!(WebhookUrl::check(raw), Err(problem), "{raw}");
    }
    let long = format!("https://example.com/{}", "a".repeat(WebhookUrl::MAX_CHARS));
    assert_eq!(WebhookUrl::check(&long), Err(UrlProblem::TooLong));
    let err = WebhookUrl::parse("ftp://x").unwrap_err();
    assert_eq!(err, DomainError::InvalidWebhookUrl(UrlProblem::Scheme));
    assert_eq!(err.field(), Some("url"));
    assert_eq!(err.code(), "validation_error");
    assert_eq!(
        err.to_string(),
        "The URL must start with https:// (or http:// where private targets are allowed)."
    );
}

#[test]
fn descriptions_are_trimmed_and_bounded() {
    assert_eq!(EndpointDescription::parse("").unwrap(), None);
    assert_eq!(EndpointDescription::parse(" \t ").unwrap(), None);
    let fits = "é".repeat(EndpointDescription::MAX_CHARS);
    assert_eq!(
        EndpointDescription::parse(&format!(" {fits} "))
            .unwrap()
            .unwrap()
            .into_inner(),
        fits
    );
    for bad in ["a\u{0}b".to_owned(), "x".repeat(501)] {
        let err = EndpointDescription::parse(&bad).unwrap_err();
        assert_eq!(err.field(), Some("description"));
        assert_eq!(
            err.to_string(),
            "description must have at most 500 characters without control characters."
        );
    }
}
