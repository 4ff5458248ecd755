//! The access-token keys: an Ed25519 signing key from `JWT_SIGNING_KEY_FILE` (with the previous
//! keys of `JWT_PREVIOUS_VERIFY_KEY_FILES`), else HS256 with `JWT_SECRET`, else (outside
//! production) a fresh Ed25519 key. Also the secret refresh-token successors are derived with:
//! `JWT_SECRET` when set, else one derived from the signing key.

use service::{Ed25519Keys, JwtSecret};

use super::{AppEnv, SettingsError, Vars};

/// The keys read, and whether they are random (tokens will not survive a restart).
pub(super) struct TokenKeys {
    pub secret: JwtSecret,
    pub signing_key: Option<Ed25519Keys>,
    pub random: bool,
}

pub(super) fn read(vars: &Vars, app_env: AppEnv) -> Result<TokenKeys, SettingsError> {
    let secret = vars.parse("JWT_SECRET", |raw| JwtSecret::new(raw.as_bytes().to_vec()))?;
    let previous = vars.list("JWT_PREVIOUS_VERIFY_KEY_FILES");
    let Some(path) = vars.string("JWT_SIGNING_KEY_FILE") else {
        return without_key_file(secret, &previous, app_env);
    };
    let pem = read_file("JWT_SIGNING_KEY_FILE", &path)?;
    let keys = Ed25519Keys::from_pem(&pem)
        .map_err(|p| SettingsError::new("JWT_SIGNING_KEY_FILE", format!("{path} {p}")))?;
    with_keys(keys, &previous, secret, false)
}

/// HS256 with `JWT_SECRET`, else (outside production) a fresh Ed25519 key.
fn without_key_file(
    secret: Option<JwtSecret>,
    previous: &[String],
    app_env: AppEnv,
) -> Result<TokenKeys, SettingsError> {
    match secret {
        Some(_) if !previous.is_empty() => Err(SettingsError::new(
            "JWT_PREVIOUS_VERIFY_KEY_FILES",
            "needs JWT_SIGNING_KEY_FILE (previous keys are Ed25519 keys)",
        )),
        Some(secret) => Ok(TokenKeys {
            secret,
            signing_key: None,
            random: false,
        }),
        None if app_env == AppEnv::Production => Err(SettingsError::new(
            "JWT_SECRET",
            "is required in production (at least 32 bytes), unless JWT_SIGNING_KEY_FILE \
             names an Ed25519 key",
        )),
        None => {
            let keys = Ed25519Keys::generate()
                .map_err(|p| SettingsError::new("JWT_SIGNING_KEY_FILE", p))?;
            with_keys(keys, previous, None, true)
        }
    }
}

/// Ed25519 `keys`, also accepting the `previous` ones; refresh-token successors are derived
/// from `JWT_SECRET` when set, else from the key.
fn with_keys(
    mut keys: Ed25519Keys,
    previous: &[String],
    secret: Option<JwtSecret>,
    random: bool,
) -> Result<TokenKeys, SettingsError> {
    const PREVIOUS: &str = "JWT_PREVIOUS_VERIFY_KEY_FILES";
    for path in previous {
        let pem = read_file(PREVIOUS, path)?;
        keys.also_accept_pem(&pem)
            .map_err(|p| SettingsError::new(PREVIOUS, format!("{path} {p}")))?;
    }
    let secret = match secret {
        Some(secret) => secret,
        None => keys
            .derived_secret()
            .map_err(|p| SettingsError::new("JWT_SIGNING_KEY_FILE", p))?,
    };
    Ok(TokenKeys {
        secret,
        signing_key: Some(keys),
        random,
    })
}

fn read_file(variable: &'static str, path: &str) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new(variable, format!("cannot read {path}: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn read_in(app_env: AppEnv, pairs: &[(&str, &str)]) -> Result<TokenKeys, SettingsError> {
        read(&Vars::from_pairs(pairs), app_env)
    }

    /// A PKCS#8 PEM file of a fixed Ed25519 key, and the file's path.
    fn key_file(seed: u8) -> std::path::PathBuf {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let path = std::env::temp_dir().join(format!(
            "doztra-settings-key-{seed}-{}.pem",
            std::process::id()
        ));
        std::fs::write(
            &path,
            key.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
        )
        .unwrap();
        path
    }

    #[test]
    fn production_refuses_a_missing_or_short_secret() {
        let err = read_in(AppEnv::Production, &[]).err().unwrap();
        assert_eq!(err.variable, "JWT_SECRET");
        let err = read_in(AppEnv::Production, &[("JWT_SECRET", "short")])
            .err()
            .unwrap();
        assert_eq!(err.variable, "JWT_SECRET");
        let ok = read_in(AppEnv::Production, &[("JWT_SECRET", &"x".repeat(32))]).unwrap();
        assert!(ok.signing_key.is_none());
    }

    #[test]
    fn an_ed25519_key_file_signs_and_previous_keys_are_published() {
        let current = key_file(3);
        let previous = key_file(4);
        let s = read_in(
            AppEnv::Production,
            &[
                ("JWT_SIGNING_KEY_FILE", current.to_str().unwrap()),
                (
                    "JWT_PREVIOUS_VERIFY_KEY_FILES",
                    &format!(" {} ,", previous.display()),
                ),
            ],
        )
        .unwrap();
        assert!(!s.random);
        let keys = s.signing_key.as_ref().unwrap();
        assert_eq!(keys.public_jwks().len(), 2);
        // Without JWT_SECRET the successor secret comes from the key: stable across restarts.
        let again = read_in(
            AppEnv::Development,
            &[("JWT_SIGNING_KEY_FILE", current.to_str().unwrap())],
        )
        .unwrap();
        assert_eq!(
            format!("{:?}", again.signing_key.as_ref().unwrap().kid()),
            format!("{:?}", keys.kid())
        );
    }

    #[test]
    fn development_without_keys_generates_an_ed25519_key() {
        let s = read_in(AppEnv::Development, &[]).unwrap();
        assert!(s.random);
        assert!(s.signing_key.is_some());
        let hs = read_in(AppEnv::Development, &[("JWT_SECRET", &"x".repeat(32))]).unwrap();
        assert!(hs.signing_key.is_none());
        assert!(!hs.random);
    }

    #[test]
    fn bad_key_files_name_their_variable() {
        let current = key_file(5);
        for (pairs, variable) in [
            (
                vec![("JWT_SIGNING_KEY_FILE", "/nonexistent/key.pem")],
                "JWT_SIGNING_KEY_FILE",
            ),
            (
                vec![("JWT_SIGNING_KEY_FILE", "Cargo.toml")],
                "JWT_SIGNING_KEY_FILE",
            ),
            (
                vec![
                    ("JWT_SIGNING_KEY_FILE", current.to_str().unwrap()),
                    ("JWT_PREVIOUS_VERIFY_KEY_FILES", "Cargo.toml"),
                ],
                "JWT_PREVIOUS_VERIFY_KEY_FILES",
            ),
            (
                vec![
                    ("JWT_SECRET", "y".repeat(32).leak()),
                    ("JWT_PREVIOUS_VERIFY_KEY_FILES", current.to_str().unwrap()),
                ],
                "JWT_PREVIOUS_VERIFY_KEY_FILES",
            ),
        ] {
            let err = read_in(AppEnv::Development, &pairs).err().unwrap();
            assert_eq!(err.variable, variable, "{pairs:?}: {err}");
        }
    }
}
