//! `webhook::verify`: the Stripe-Signature header over the raw body.

use billing::webhook::{self, DEFAULT_TOLERANCE_SECS, WebhookError};

use billing::test_support::{PREVIOUS_WEBHOOK_SECRET, WEBHOOK_SECRET};

const NOW: i64 = 1_780_000_000;
const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"invoice.paid","created":1780000000,"data":{"object":{}}}"#;

fn verify(payload: &[u8], header: &str) -> Result<(), WebhookError> {
    webhook::verify(
        payload,
        header,
        &[WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET],
        NOW,
        DEFAULT_TOLERANCE_SECS,
    )
}

/// The `v1=` value of a header made by `sign`.
fn v1(header: &str) -> &str {
    header.split_once(",v1=").unwrap().1
}

#[test]
fn a_payload_signed_with_the_current_secret_verifies() {
    let header = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    assert_eq!(verify(BODY, &header), Ok(()));
}

#[test]
fn a_header_made_by_async_stripes_own_signer_verifies() {
    let body = std::str::from_utf8(BODY).unwrap();
    let header = stripe_webhook::Webhook::generate_test_header(body, WEBHOOK_SECRET, Some(NOW));
    assert_eq!(header, webhook::sign(BODY, WEBHOOK_SECRET, NOW));
    assert_eq!(verify(BODY, &header), Ok(()));
}

#[test]
fn a_signature_computed_elsewhere_verifies() {
    // HMAC-SHA256(key "whsec_test_current", "1780000000.{}"), computed with Python's hmac.
    let header = "t=1780000000,v1=ec444ea7b212d3444aa1e46131de960caea5657ae92ebefaf2923dc1c260a0bd";
    assert_eq!(verify(b"{}", header), Ok(()));
    assert_eq!(webhook::sign(b"{}", WEBHOOK_SECRET, NOW), header);
}

#[test]
fn a_tampered_body_fails() {
    let header = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    let mut tampered = BODY.to_vec();
    tampered[10] ^= 0x01;
    assert_eq!(
        verify(&tampered, &header),
        Err(WebhookError::SignatureMismatch)
    );
    // Reformatted JSON is a different body too: verify the raw bytes, never re-serialised ones.
    let reformatted =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(BODY).unwrap())
            .unwrap();
    assert_eq!(
        verify(&reformatted, &header),
        Err(WebhookError::SignatureMismatch)
    );
}

#[test]
fn a_tampered_timestamp_fails() {
    let header = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    let moved = header.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1);
    assert_eq!(verify(BODY, &moved), Err(WebhookError::SignatureMismatch));
}

#[test]
fn a_stale_or_future_timestamp_fails_and_the_edge_of_the_tolerance_passes() {
    for (offset, ok) in [
        (-301, false),
        (-300, true),
        (0, true),
        (300, true),
        (301, false),
    ] {
        let at = NOW + offset;
        let header = webhook::sign(BODY, WEBHOOK_SECRET, at);
        let expected = if ok {
            Ok(())
        } else {
            Err(WebhookError::Stale { timestamp: at })
        };
        assert_eq!(verify(BODY, &header), expected, "offset {offset}");
    }
}

#[test]
fn with_two_v1_values_the_second_matching_is_enough() {
    let good = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    let wrong = webhook::sign(BODY, "whsec_somebody_else", NOW);
    let header = format!("t={NOW},v1={},v1={}", v1(&wrong), v1(&good));
    assert_eq!(verify(BODY, &header), Ok(()));
    // ... and the first, in the other order (with a v0 thrown in).
    let header = format!(
        "t={NOW},v1={},v0={},v1={}",
        v1(&good),
        v1(&wrong),
        v1(&wrong)
    );
    assert_eq!(verify(BODY, &header), Ok(()));
}

#[test]
fn a_payload_signed_with_the_previous_secret_verifies_while_rolling() {
    let header = webhook::sign(BODY, PREVIOUS_WEBHOOK_SECRET, NOW);
    assert_eq!(verify(BODY, &header), Ok(()));
    // Once the previous secret is dropped from the list, it no longer does.
    assert_eq!(
        webhook::verify(
            BODY,
            &header,
            &[WEBHOOK_SECRET],
            NOW,
            DEFAULT_TOLERANCE_SECS
        ),
        Err(WebhookError::SignatureMismatch)
    );
}

#[test]
fn a_payload_signed_with_another_secret_fails() {
    let header = webhook::sign(BODY, "whsec_attacker", NOW);
    assert_eq!(verify(BODY, &header), Err(WebhookError::SignatureMismatch));
}

#[test]
fn a_v0_signature_alone_is_not_enough() {
    let good = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    let header = format!("t={NOW},v0={}", v1(&good));
    assert!(matches!(
        verify(BODY, &header),
        Err(WebhookError::MalformedHeader(_))
    ));
}

#[test]
fn malformed_headers_are_refused() {
    let good = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    let signature = v1(&good);
    let malformed = [
        String::new(),
        "garbage".to_owned(),
        format!("v1={signature}"),
        format!("t={NOW}"),
        format!("t=yesterday,v1={signature}"),
        format!("t={NOW},t={NOW},v1={signature}"),
        format!("t={NOW},v1"),
    ];
    for header in malformed {
        let result = verify(BODY, &header);
        assert!(
            matches!(result, Err(WebhookError::MalformedHeader(_))),
            "{header:?}: {result:?}"
        );
        assert!(result.unwrap_err().is_signature_error());
    }
    // Values that are not hex, or too short, simply do not match.
    for header in [
        format!("t={NOW},v1=zz{signature}"),
        format!("t={NOW},v1=abcd"),
    ] {
        assert_eq!(
            verify(BODY, &header),
            Err(WebhookError::SignatureMismatch),
            "{header}"
        );
    }
    // Spaces after the commas are tolerated.
    assert_eq!(verify(BODY, &format!("t={NOW}, v1={signature}")), Ok(()));
}

#[test]
fn no_secret_no_match() {
    let header = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    assert_eq!(
        webhook::verify(BODY, &header, &[], NOW, DEFAULT_TOLERANCE_SECS),
        Err(WebhookError::SignatureMismatch)
    );
}

// ---- bounded work (issue 12, finding 2) ----

/// `count` wrong `,v1=` values (valid hex of the right length).
fn wrong_v1s(count: usize) -> String {
    let wrong = v1(&webhook::sign(BODY, "whsec_somebody_else", NOW)).to_owned();
    format!(",v1={wrong}").repeat(count)
}

/// `t=NOW` followed by `count` wrong `v1` values.
fn with_wrong_v1s(count: usize) -> String {
    format!("t={NOW}{}", wrong_v1s(count))
}

#[test]
fn a_header_over_8_kib_is_refused_even_with_a_good_signature() {
    let good = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    // Good signature first, then padding past the limit.
    let mut header = good.clone();
    while header.len() <= webhook::MAX_HEADER_BYTES {
        header.push_str(",v0=00");
    }
    assert_eq!(verify(BODY, &header), Err(WebhookError::HeaderTooLong));
    assert!(WebhookError::HeaderTooLong.is_signature_error());
    // At the limit it is read.
    let mut header = good;
    while header.len() + 6 <= webhook::MAX_HEADER_BYTES {
        header.push_str(",v0=00");
    }
    assert!(header.len() <= webhook::MAX_HEADER_BYTES);
    assert_eq!(verify(BODY, &header), Ok(()));
}

#[test]
fn only_the_first_few_v1_values_are_compared() {
    let good = v1(&webhook::sign(BODY, WEBHOOK_SECRET, NOW)).to_owned();
    let last_read = webhook::MAX_V1_SIGNATURES - 1;
    // A good value among the first few verifies, however many follow.
    let header = format!("{},v1={good}{}", with_wrong_v1s(last_read), wrong_v1s(50));
    assert!(header.len() < webhook::MAX_HEADER_BYTES);
    assert_eq!(verify(BODY, &header), Ok(()));
    // One past them is never read.
    let header = format!("{},v1={good}", with_wrong_v1s(webhook::MAX_V1_SIGNATURES));
    assert_eq!(verify(BODY, &header), Err(WebhookError::SignatureMismatch));
    // Values that are not hex count towards the few too.
    let header = format!(
        "t={NOW}{},v1={good}",
        ",v1=zz".repeat(webhook::MAX_V1_SIGNATURES)
    );
    assert_eq!(verify(BODY, &header), Err(WebhookError::SignatureMismatch));
}

#[test]
fn a_stale_timestamp_is_refused_before_any_signature_is_checked() {
    // No secret could match, yet the verdict is about the timestamp: nothing was hashed.
    let stale = NOW - DEFAULT_TOLERANCE_SECS - 1;
    let header = format!("t={stale},v1={}", "ab".repeat(32));
    assert_eq!(
        webhook::verify(BODY, &header, &[], NOW, DEFAULT_TOLERANCE_SECS),
        Err(WebhookError::Stale { timestamp: stale })
    );
    let header = with_wrong_v1s(3).replacen(&format!("t={NOW}"), &format!("t={stale}"), 1);
    assert_eq!(
        verify(BODY, &header),
        Err(WebhookError::Stale { timestamp: stale })
    );
}

#[test]
fn empty_and_oversized_headers_are_screened_without_secrets() {
    assert!(matches!(
        webhook::screen_header(""),
        Err(WebhookError::MalformedHeader(_))
    ));
    assert!(matches!(
        webhook::screen_header("   "),
        Err(WebhookError::MalformedHeader(_))
    ));
    assert_eq!(
        webhook::screen_header(&"x".repeat(webhook::MAX_HEADER_BYTES + 1)),
        Err(WebhookError::HeaderTooLong)
    );
    assert_eq!(
        webhook::screen_header(&webhook::sign(BODY, WEBHOOK_SECRET, NOW)),
        Ok(())
    );
}

#[test]
fn the_checks_before_any_hmac_need_no_payload() {
    let good = webhook::sign(BODY, WEBHOOK_SECRET, NOW);
    let tolerance = DEFAULT_TOLERANCE_SECS;
    assert_eq!(webhook::check_header(&good, NOW, tolerance), Ok(()));
    // Wrong signatures pass this stage: only verify() can tell.
    assert_eq!(
        webhook::check_header(&with_wrong_v1s(3), NOW, tolerance),
        Ok(())
    );
    assert_eq!(
        webhook::check_header(&good, NOW + tolerance + 1, tolerance),
        Err(WebhookError::Stale { timestamp: NOW })
    );
    assert!(matches!(
        webhook::check_header("garbage", NOW, tolerance),
        Err(WebhookError::MalformedHeader(_))
    ));
    assert_eq!(
        webhook::check_header(&"x".repeat(webhook::MAX_HEADER_BYTES + 1), NOW, tolerance),
        Err(WebhookError::HeaderTooLong)
    );
}
