//! [`Vars`]: variables read through a lookup (the process environment, a map, a closure), each
//! value trimmed and an empty one counted as unset, with typed getters whose errors name the
//! variable.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::{SecretString, SettingsError};

/// How a variable is looked up: its raw value, if set.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Where settings come from. Every getter trims the value and treats an empty one as unset, so
/// `PORT=` in a `.env` file means "the default", never "invalid".
pub struct Vars<'a> {
    lookup: Lookup<'a>,
}

impl fmt::Debug for Vars<'_> {
    // The values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vars")
    }
}

impl Vars<'static> {
    /// The process environment (a variable that is not valid Unicode counts as unset).
    pub fn from_env() -> Self {
        Self::new(|name| std::env::var(name).ok())
    }

    /// A fixed set of variables, for tests.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Self::new(move |name| map.get(name).cloned())
    }
}

impl<'a> Vars<'a> {
    /// Variables read through `lookup` (for example `|name| std::env::var(name).ok()`).
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// Variables held in a map.
    pub fn from_map(map: &'a HashMap<String, String>) -> Self {
        Self::new(|name| map.get(name).cloned())
    }

    /// The trimmed value; `None` when unset or empty.
    pub fn string(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The trimmed value, or `default` when unset or empty.
    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.string(name).unwrap_or_else(|| default.to_owned())
    }

    /// The trimmed value, which must be set; `when` ends the message, as in "is required when
    /// STRIPE_SECRET_KEY is set".
    pub fn required(&self, name: &'static str, when: &str) -> Result<String, SettingsError> {
        self.string(name)
            .ok_or_else(|| SettingsError::missing(name, when))
    }

    /// The value given to `parse`, whose error (any text) becomes the problem named after the
    /// variable; `None` when unset.
    pub fn parse<T, E: fmt::Display>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, SettingsError> {
        self.string(name)
            .map(|raw| parse(&raw).map_err(|e| SettingsError::new(name, e.to_string())))
            .transpose()
    }

    /// A whole number of at least `min`, or `default` when unset.
    pub fn number<T>(&self, name: &'static str, default: T, min: T) -> Result<T, SettingsError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let value = self
            .parse(name, |raw| {
                raw.parse::<T>()
                    .map_err(|_| format!("'{raw}' is not a whole number"))
            })?
            .unwrap_or(default);
        if value < min {
            return Err(SettingsError::new(name, format!("must be at least {min}")));
        }
        Ok(value)
    }

    /// `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case), or `default` when
    /// unset.
    pub fn boolean(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        let value = self.parse(name, |raw| match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(format!("'{other}' is not true or false")),
        })?;
        Ok(value.unwrap_or(default))
    }

    /// Seconds, or a number with a unit: `900`, `90s`, `15m`, `12h`, `30d`; zero is refused.
    /// `default` when unset.
    pub fn duration(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        let value = self.duration_or_zero(name, default)?;
        if value.is_zero() {
            return Err(SettingsError::new(name, "must be greater than zero"));
        }
        Ok(value)
    }

    /// Like [`Vars::duration`], for settings where zero means "off" (`0`, `0s`).
    pub fn duration_or_zero(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        Ok(self.parse(name, parse_duration)?.unwrap_or(default))
    }

    /// An `http://` or `https://` URL; `None` when unset.
    pub fn url(&self, name: &'static str) -> Result<Option<String>, SettingsError> {
        self.parse(name, |raw| {
            let rest = raw
                .strip_prefix("https://")
                .or_else(|| raw.strip_prefix("http://"));
            // A host must follow the scheme (`https:///` names none).
            match rest.and_then(|rest| rest.split(['/', '?', '#']).next()) {
                Some(host) if !host.is_empty() => Ok(raw.to_owned()),
                _ => Err("must be an http:// or https:// URL"),
            }
        })
    }

    /// A secret, which never prints; `None` when unset.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.string(name).map(SecretString::new)
    }

    /// A comma-separated list, each item trimmed, empty items dropped; empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.string(name)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One of the named `choices` (exact spelling); `expected` ends the message, as in
    /// "'xml' is not pretty or json". `None` when unset.
    pub fn choice<T: Copy>(
        &self,
        name: &'static str,
        choices: &[(&str, T)],
        expected: &str,
    ) -> Result<Option<T>, SettingsError> {
        self.parse(name, |raw| {
            choices
                .iter()
                .find(|(spelling, _)| *spelling == raw)
                .map(|(_, value)| *value)
                .ok_or_else(|| format!("'{raw}' is not {expected}"))
        })
    }
}

/// `900` (seconds), `90s`, `15m`, `12h`, `30d`.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration like 900, 15m or 30d"))?;
    let factor = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{raw}' has an unknown unit (use s, m, h or d)")),
    };
    let secs = value
        .checked_mul(factor)
        .ok_or_else(|| "is too large".to_owned())?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn problem<T: fmt::Debug>(result: Result<T, SettingsError>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.variable, "X");
        err.problem
    }

    #[test]
    fn values_are_trimmed_and_empty_counts_as_unset() {
        let vars = Vars::from_pairs(&[("X", "  a b  "), ("EMPTY", "   ")]);
        assert_eq!(vars.string("X").as_deref(), Some("a b"));
        assert_eq!(vars.string("EMPTY"), None);
        assert_eq!(vars.string("MISSING"), None);
        assert_eq!(vars.string_or("EMPTY", "default"), "default");
        assert_eq!(vars.number("EMPTY", 7u32, 1).unwrap(), 7);
    }

    #[test]
    fn a_map_and_a_closure_read_alike() {
        let map = HashMap::from([("X".to_owned(), " 5 ".to_owned())]);
        assert_eq!(Vars::from_map(&map).number("X", 0u8, 0).unwrap(), 5);
        let closure = Vars::new(|name| (name == "X").then(|| "6".to_owned()));
        assert_eq!(closure.number("X", 0u8, 0).unwrap(), 6);
    }

    #[test]
    fn required_values_say_when() {
        let vars = Vars::from_pairs(&[]);
        assert_eq!(
            problem(vars.required("X", "when Y is set")),
            "is required when Y is set"
        );
        assert_eq!(
            Vars::from_pairs(&[("X", "v")]).required("X", "").unwrap(),
            "v"
        );
    }

    #[test]
    fn numbers_have_a_minimum() {
        let vars = |v| Vars::from_pairs(&[("X", v)]);
        assert_eq!(
            problem(vars("eighty").number("X", 1u16, 0)),
            "'eighty' is not a whole number"
        );
        assert_eq!(
            problem(vars("0").number("X", 1u16, 1)),
            "must be at least 1"
        );
        assert_eq!(
            problem(vars("-1").number("X", 1u64, 0)),
            "'-1' is not a whole number"
        );
    }

    #[test]
    fn booleans_take_the_usual_words() {
        for (raw, value) in [
            ("1", true),
            ("TRUE", true),
            ("on", true),
            ("No", false),
            ("0", false),
        ] {
            assert_eq!(
                Vars::from_pairs(&[("X", raw)])
                    .boolean("X", !value)
                    .unwrap(),
                value
            );
        }
        assert!(Vars::from_pairs(&[]).boolean("X", true).unwrap());
        assert_eq!(
            problem(Vars::from_pairs(&[("X", "Maybe")]).boolean("X", true)),
            "'maybe' is not true or false"
        );
    }

    #[test]
    fn durations_take_units_and_refuse_zero_unless_zero_means_off() {
        let vars = |v| Vars::from_pairs(&[("X", v)]);
        let default = Duration::from_secs(1);
        for (raw, secs) in [
            ("900", 900),
            ("90s", 90),
            ("15m", 900),
            ("12h", 43_200),
            ("2d", 172_800),
            ("15 m", 900),
        ] {
            assert_eq!(
                vars(raw).duration("X", default).unwrap(),
                Duration::from_secs(secs)
            );
        }
        assert_eq!(
            Vars::from_pairs(&[]).duration("X", default).unwrap(),
            default
        );
        assert_eq!(
            problem(vars("0").duration("X", default)),
            "must be greater than zero"
        );
        assert!(vars("0s").duration_or_zero("X", default).unwrap().is_zero());
        assert_eq!(
            problem(vars("15 parsecs").duration("X", default)),
            "'15 parsecs' has an unknown unit (use s, m, h or d)"
        );
        assert_eq!(
            problem(vars("soon").duration("X", default)),
            "'soon' is not a duration like 900, 15m or 30d"
        );
        assert_eq!(
            problem(vars("18446744073709551615d").duration("X", default)),
            "is too large"
        );
    }

    #[test]
    fn urls_are_http_or_https() {
        let vars = |v| Vars::from_pairs(&[("X", v)]);
        assert_eq!(
            vars("https://app.example").url("X").unwrap().as_deref(),
            Some("https://app.example")
        );
        for no_url in ["app.example", "https:///", "http://", "https://?x=1"] {
            assert_eq!(
                problem(vars(no_url).url("X")),
                "must be an http:// or https:// URL",
                "{no_url}"
            );
        }
        assert!(vars("http://127.0.0.1:8000/app/").url("X").is_ok());
        assert_eq!(Vars::from_pairs(&[]).url("X").unwrap(), None);
    }

    #[test]
    fn secrets_lists_and_choices() {
        let vars = Vars::from_pairs(&[("S", "hunter2"), ("L", " a, ,b ,"), ("X", "xml")]);
        assert!(!format!("{:?}", vars.secret("S")).contains("hunter2"));
        assert!(!format!("{vars:?}").contains("hunter2"));
        assert_eq!(vars.list("L"), ["a", "b"]);
        assert!(vars.list("MISSING").is_empty());
        let formats = [("pretty", 1), ("json", 2)];
        assert_eq!(
            problem(vars.choice("X", &formats, "pretty or json")),
            "'xml' is not pretty or json"
        );
        assert_eq!(vars.choice("MISSING", &formats, "").unwrap(), None);
        let vars = Vars::from_pairs(&[("X", "json")]);
        assert_eq!(vars.choice("X", &formats, "").unwrap(), Some(2));
    }
}
