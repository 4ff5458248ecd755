//! Accept/reject edges of the account value types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

#[test]
fn email_is_trimmed_and_lower_cased() {
    let email = Email::parse("  User@Example.COM\t").unwrap();
    assert_eq!(email.as_str(), "user@example.com");
    assert_eq!(email.to_string(), "user@example.com");
    assert_eq!(email.clone().into_inner(), "user@example.com");
    assert_eq!(AsRef::<str>::as_ref(&email), "user@example.com");
}

#[test]
fn email_accepts_plausible_addresses() {
    for raw in [
        "user@example.com",
        "first.last+tag@sub.example.co.uk",
        "a@b.c",
        "o'brien@example.ie",
        "x_y-z@mail-server.example",
    ] {
        assert!(Email::parse(raw).is_ok(), "{raw}");
    }
}

#[test]
fn email_rejects_implausible_addresses() {
    for raw in [
        "",
        "   ",
        "not-an-email",
        "@example.com",
        "user@",
        "user@localhost",
        "user@@example.com",
        "a@b@example.com",
        "user@.example.com",
        "user@example.com.",
        "user@example..com",
        "us er@example.com",
        "user@exa mple.com",
        "user\u{0}@example.com",
        "user@example.com\u{7}",
    ] {
        assert_eq!(Email::parse(raw), Err(DomainError::InvalidEmail), "{raw:?}");
    }
}

#[test]
fn email_rejects_mailbox_syntax() {
    for raw in [
        "x<probe@evil.io>",
        "<probe@evil.io>",
        "\"x\"<probe@evil.io>",
        "victim:probe@evil.io;",
        "probe@evil.io>",
        "(comment)probe@evil.io",
        "probe@evil.io(comment)",
        "\"probe\"@evil.io",
        "probe,x@evil.io",
        "x;probe@evil.io",
        "probe@[127.0.0.1]",
        "a\\b@example.com",
        "John Doe <john@example.com>",
    ] {
        assert_eq!(Email::parse(raw), Err(DomainError::InvalidEmail), "{raw:?}");
    }
}

#[test]
fn email_length_limits_are_inclusive() {
    let local_64 = "a".repeat(64);
    assert!(Email::parse(&format!("{local_64}@example.com")).is_ok());
    let local_65 = "a".repeat(65);
    assert!(Email::parse(&format!("{local_65}@example.com")).is_err());

    // 64 + 1 + 185 + 4 = 254 characters.
    let domain = format!("{}.com", "d".repeat(185));
    let at_limit = format!("{local_64}@{domain}");
    assert_eq!(at_limit.chars().count(), 254);
    assert!(Email::parse(&at_limit).is_ok());
    let over = format!("{local_64}@d{domain}");
    assert!(Email::parse(&over).is_err());
}

#[test]
fn email_parses_through_from_str_and_try_from() {
    let a: Email = "A@B.CO".parse().unwrap();
    let b = Email::try_from("a@b.co".to_owned()).unwrap();
    assert_eq!(a, b);
    assert_eq!(String::from(a), "a@b.co");
}

#[test]
fn the_documented_example_password_is_accepted() {
    let password = Password::parse("Password123!").unwrap();
    assert_eq!(password.expose(), "Password123!");
}

#[test]
fn password_debug_never_shows_the_secret() {
    let password = Password::parse("correct horse battery").unwrap();
    let printed = format!("{password:?}");
    assert_eq!(printed, "Password(***)");
    assert!(!printed.contains("horse"));
}

#[test]
fn password_length_is_counted_in_characters_and_limits_are_inclusive() {
    assert_eq!(
        Password::parse("Ab3$xyz"),
        Err(DomainError::PasswordTooShort { min: 8 })
    );
    assert!(Password::parse("Ab3$xyzw").is_ok());
    // Eight characters but sixteen bytes: long enough.
    assert!(Password::parse("éàüößçñø").is_ok());
    // Seven characters but many bytes: too short.
    assert_eq!(
        Password::parse("🔒🔒🔒🔒🔒🔒🔒"),
        Err(DomainError::PasswordTooShort { min: 8 })
    );
    let max = "xY7-".repeat(32);
    assert!(Password::parse(&max).is_ok());
    let over = format!("{max}z");
    assert_eq!(
        Password::parse(&over),
        Err(DomainError::PasswordTooLong { max: 128 })
    );
}

#[test]
fn password_is_not_trimmed() {
    let password = Password::parse("  spaced out  ").unwrap();
    assert_eq!(password.expose(), "  spaced out  ");
    // Only seven characters once you count the spaces as the policy does.
    assert!(Password::parse(" abcde ").is_err());
}

#[test]
fn common_passwords_are_refused_in_any_case() {
    for raw in [
        "password",
        "PASSWORD",
        "12345678",
        "qwertyuiop",
        "password1",
        "Password1",
        "iloveyou",
        "letmein123",
        "P@ssw0rd",
        "1q2w3e4r",
    ] {
        assert_eq!(
            Password::parse(raw),
            Err(DomainError::CommonPassword),
            "{raw}"
        );
    }
}

#[test]
fn user_name_is_trimmed_and_bounded() {
    assert_eq!(
        UserName::parse("  John Doe  ").unwrap().as_str(),
        "John Doe"
    );
    assert_eq!(UserName::parse("J").unwrap().into_inner(), "J");
    let hundred = "é".repeat(100);
    assert!(UserName::parse(&hundred).is_ok());
    assert!(UserName::parse(&format!("  {hundred}  ")).is_ok());
    for raw in [
        String::new(),
        "   ".to_owned(),
        "é".repeat(101),
        "John\nDoe".to_owned(),
        "John\u{1b}Doe".to_owned(),
    ] {
        assert_eq!(
            UserName::parse(&raw),
            Err(DomainError::InvalidName),
            "{raw:?}"
        );
    }
}

#[test]
fn role_round_trips_its_wire_strings() {
    for role in Role::ALL {
        assert_eq!(Role::parse(role.as_str()), Ok(role));
        assert_eq!(role.to_string().parse::<Role>(), Ok(role));
    }
    assert!(Role::Admin.is_admin());
    assert!(!Role::User.is_admin());
    assert_eq!(Role::default(), Role::User);
}

#[test]
fn role_rejects_anything_else() {
    for raw in ["", "Admin", "root", "superuser", " user"] {
        assert_eq!(
            Role::parse(raw),
            Err(DomainError::UnknownRole(raw.to_owned()))
        );
    }
}

#[cfg(feature = "serde")]
#[test]
fn serde_uses_the_wire_strings_and_validates_on_the_way_in() {
    use serde::de::value::{Error as DeError, StrDeserializer};
    use serde::de::{Deserialize, IntoDeserializer};

    let de: StrDeserializer<'_, DeError> = "admin".into_deserializer();
    assert_eq!(Role::deserialize(de), Ok(Role::Admin));
    let de: StrDeserializer<'_, DeError> = "root".into_deserializer();
    assert!(Role::deserialize(de).is_err());

    let de: serde::de::value::StringDeserializer<DeError> = "A@B.CO".to_owned().into_deserializer();
    assert_eq!(Email::deserialize(de).unwrap().as_str(), "a@b.co");
    let de: serde::de::value::StringDeserializer<DeError> = "nope".to_owned().into_deserializer();
    assert!(Email::deserialize(de).is_err());
}

/// A local part or domain label of characters a bare address may hold.
fn atom() -> impl Strategy<Value = String> {
    "[a-z0-9_+'-]{1,12}"
}

/// Plausible bare addresses: `atom(.atom)*@atom(.atom)+`.
fn bare_address() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(atom(), 1..3),
        proptest::collection::vec(atom(), 2..4),
    )
        .prop_map(|(local, domain)| format!("{}@{}", local.join("."), domain.join(".")))
}

proptest! {
    /// Whatever is accepted is one bare address: the rules of the type hold for it, and it
    /// parses again to itself.
    #[test]
    fn an_accepted_email_is_one_bare_address(raw in "[ -~]{0,40}") {
        if let Ok(email) = Email::parse(&raw) {
            let s = email.as_str();
            prop_assert!(s.chars().count() <= Email::MAX_CHARS);
            prop_assert_eq!(s.matches('@').count(), 1);
            prop_assert!(!s.chars().any(|c| c.is_whitespace()
                || c.is_control()
                || c.is_ascii_uppercase()
                || Email::FORBIDDEN_CHARS.contains(&c)));
            let (local, domain) = s.split_once('@').unwrap();
            prop_assert!(!local.is_empty() && local.chars().count() <= Email::MAX_LOCAL_CHARS);
            prop_assert!(domain.contains('.'));
            prop_assert!(domain.split('.').all(|label| !label.is_empty()));
            prop_assert_eq!(Email::parse(s), Ok(email.clone()));
        }
    }

    /// Bare addresses are accepted as they are.
    #[test]
    fn a_bare_address_is_accepted(raw in bare_address()) {
        prop_assert_eq!(Email::parse(&raw).map(Email::into_inner), Ok(raw));
    }

    /// One mailbox punctuation character anywhere in a bare address makes it invalid, and so
    /// does a display name in front of it.
    #[test]
    fn mailbox_punctuation_anywhere_is_refused(
        raw in bare_address(),
        at in any::<proptest::sample::Index>(),
        special in proptest::sample::select(Email::FORBIDDEN_CHARS.to_vec()),
        name in "[a-z]{1,8}",
    ) {
        let mut chars: Vec<char> = raw.chars().collect();
        chars.insert(at.index(chars.len() + 1), special);
        let tampered: String = chars.into_iter().collect();
        prop_assert_eq!(Email::parse(&tampered), Err(DomainError::InvalidEmail));
        prop_assert_eq!(
            Email::parse(&format!("{name}<{raw}>")),
            Err(DomainError::InvalidEmail)
        );
    }
}
