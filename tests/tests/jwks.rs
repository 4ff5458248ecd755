//! Public-key access tokens: EdDSA tokens named by `kid`, the JWKS and discovery documents, the
//! pinned algorithm, rolling the signing key without signing anyone out, and PyJWT (an
//! independent library, through `PyJWKClient`) verifying our tokens from the JWKS and refusing
//! them once their key is retired. On SQLite and PostgreSQL.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use doztra_tests::tools::run_python_script;
use doztra_tests::{
    Backend, JWT_SECRET, Session, TestApp, expect_error, spawn_app, spawn_app_with,
};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

/// A fresh Ed25519 key written as PKCS#8 (private) and SPKI (public) PEM files.
struct KeyFiles {
    key: SigningKey,
    private: PathBuf,
    public: PathBuf,
}

impl KeyFiles {
    fn new() -> Self {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let key = SigningKey::from_bytes(&seed);
        let dir = std::env::temp_dir();
        let name = uuid::Uuid::new_v4().simple().to_string();
        let private = dir.join(format!("doztra-jwt-{name}.pem"));
        let public = dir.join(format!("doztra-jwt-{name}.pub.pem"));
        std::fs::write(
            &private,
            key.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
        )
        .unwrap();
        std::fs::write(
            &public,
            key.verifying_key()
                .to_public_key_pem(Default::default())
                .unwrap(),
        )
        .unwrap();
        Self {
            key,
            private,
            public,
        }
    }

    fn private(&self) -> &str {
        self.private.to_str().unwrap()
    }

    fn public(&self) -> &str {
        self.public.to_str().unwrap()
    }
}

impl Drop for KeyFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.private);
        let _ = std::fs::remove_file(&self.public);
    }
}

fn header(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).unwrap()
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let res = app.get(path, None).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn kids(app: &TestApp) -> Vec<String> {
    json_of(app, "/.well-known/jwks.json").await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get("/api/users/me", Some(token))
        .await
        .status()
        .as_u16()
}

/// PyJWT's verdict on `token` against `app`'s JWKS must be `expected`.
fn pyjwt_says(app: &TestApp, who: &Session, token: &str, expected: &str) {
    let jwks = app.url("/.well-known/jwks.json");
    let output = run_python_script(
        "verify_jwt.py",
        &[
            &jwks,
            token,
            "doztra-auth",
            "doztra",
            &who.user_id,
            expected,
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.trim_end().ends_with(expected), "{stdout}");
}

async fn tokens_are_eddsa_and_verify_against_the_published_key(backend: Backend) {
    let key = KeyFiles::new();
    let Some(app) = spawn_app_with(backend, &[("JWT_SIGNING_KEY_FILE", key.private())]).await
    else {
        return;
    };
    let jwks = json_of(&app, "/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(
        jwk["x"],
        URL_SAFE_NO_PAD.encode(key.key.verifying_key().to_bytes())
    );
    let discovery = json_of(&app, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], "doztra-auth");
    assert_eq!(discovery["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );

    let me = app.user("user@example.com").await;
    let h = header(&me.access);
    assert_eq!(h.alg, Algorithm::EdDSA);
    assert_eq!(h.kid.as_deref(), jwk["kid"].as_str());
    // Any JWT library verifies it with the published key alone.
    let decoding = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["doztra-auth"]);
    validation.set_audience(&["doztra"]);
    let claims = jsonwebtoken::decode::<Value>(&me.access, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], me.user_id);
    assert_eq!(me_status(&app, &me.access).await, 200);
    pyjwt_says(&app, &me, &me.access, "valid");
    // The documentation's example verifies it the same way.
    let (base, token) = (app.address.clone(), me.access.clone());
    let output = tokio::task::spawn_blocking(move || {
        doztra_tests::examples::run(
            "verify_token.py",
            &[("BASE_URL", &base), ("USER_TOKEN", &token)],
        )
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!("user: {}", me.user_id)),
        "{printed}"
    );
    assert!(printed.trim_end().ends_with("OK"), "{printed}");

    // A refresh answers an EdDSA token too.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": me.refresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let refreshed = body["access_token"].as_str().unwrap();
    assert_eq!(header(refreshed).alg, Algorithm::EdDSA);
    assert_eq!(me_status(&app, refreshed).await, 200);
}

/// Claims the service would accept, for forging tokens.
fn claims_for(who: &Session) -> Value {
    let token = &who.access;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn verification_is_pinned_to_the_configured_key(backend: Backend) {
    let key = KeyFiles::new();
    let stranger = KeyFiles::new();
    let Some(app) = spawn_app_with(backend, &[("JWT_SIGNING_KEY_FILE", key.private())]).await
    else {
        return;
    };
    let me = app.user("user@example.com").await;
    let claims = claims_for(&me);
    let kid = header(&me.access).kid.unwrap();
    // HS256 with the JWT_SECRET the server also holds (for refresh tokens): refused.
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    let stranger_key = EncodingKey::from_ed_der(stranger.key.to_pkcs8_der().unwrap().as_bytes());
    let mut forged_header = Header::new(Algorithm::EdDSA);
    forged_header.kid = Some(kid.clone());
    let wrong_signer = jsonwebtoken::encode(&forged_header, &claims, &stranger_key).unwrap();
    let mut unknown_kid = Header::new(Algorithm::EdDSA);
    unknown_kid.kid = Some("not-a-key".to_owned());
    let unknown = jsonwebtoken::encode(&unknown_kid, &claims, &stranger_key).unwrap();
    let no_kid =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &stranger_key).unwrap();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        me.access.split('.').nth(1).unwrap()
    );
    for forged in [hs256, wrong_signer, unknown, no_kid, unsigned] {
        expect_error(
            app.get("/api/users/me", Some(&forged)).await,
            401,
            "invalid_token",
        )
        .await;
    }
    assert_eq!(me_status(&app, &me.access).await, 200);
}

async fn a_signing_key_rolls_without_signing_anyone_out(backend: Backend) {
    let old = KeyFiles::new();
    let new = KeyFiles::new();
    let Some(first) = spawn_app_with(backend, &[("JWT_SIGNING_KEY_FILE", old.private())]).await
    else {
        return;
    };
    let me = first.user("user@example.com").await;
    let old_kid = header(&me.access).kid.unwrap();

    // Step 1: sign with the new key, still accept the old one (public PEM).
    let rolled = first
        .instance_with(&[
            ("JWT_SIGNING_KEY_FILE", new.private()),
            ("JWT_PREVIOUS_VERIFY_KEY_FILES", old.public()),
        ])
        .await;
    assert_eq!(
        me_status(&rolled, &me.access).await,
        200,
        "old token lives on"
    );
    let again = rolled
        .login("user@example.com", doztra_tests::PASSWORD)
        .await;
    let new_kid = header(&again.access).kid.unwrap();
    assert_ne!(new_kid, old_kid);
    assert_eq!(kids(&rolled).await, vec![new_kid.clone(), old_kid.clone()]);
    pyjwt_says(&rolled, &me, &me.access, "valid");
    pyjwt_says(&rolled, &again, &again.access, "valid");

    // Step 2: the old key is retired; its tokens stop, the session does not.
    let retired = first
        .instance_with(&[("JWT_SIGNING_KEY_FILE", new.private())])
        .await;
    assert_eq!(kids(&retired).await, vec![new_kid.clone()]);
    expect_error(
        retired.get("/api/users/me", Some(&me.access)).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(me_status(&retired, &again.access).await, 200);
    pyjwt_says(&retired, &me, &me.access, "invalid");
    pyjwt_says(&retired, &again, &again.access, "valid");
    let res = retired
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": me.refresh}),
        )
        .await;
    assert_eq!(
        res.status(),
        200,
        "the refresh token of the old key's session works"
    );
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token).kid.unwrap(), new_kid);
    assert_eq!(me_status(&retired, token).await, 200);
}

async fn hs256_deployments_publish_no_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(
        json_of(&app, "/.well-known/jwks.json").await,
        json!({"keys": []})
    );
    let discovery = json_of(&app, "/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["HS256"])
    );
    let me = app.user("user@example.com").await;
    assert_eq!(header(&me.access).alg, Algorithm::HS256);
    assert_eq!(me_status(&app, &me.access).await, 200);
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(doztra_tests::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(doztra_tests::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    tokens_are_eddsa_and_verify_against_the_published_key,
    verification_is_pinned_to_the_configured_key,
    a_signing_key_rolls_without_signing_anyone_out,
    hs256_deployments_publish_no_key,
);
