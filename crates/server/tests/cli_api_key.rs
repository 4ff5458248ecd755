//! `doztra-auth create-api-key`, the operators' way to make a service API key, on the real
//! binary: it prints the secret once (on a line of its own on stdout), stores only
//! its SHA-256 with the scopes asked for, and refuses a bad scope or name without storing
//! anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use sea_orm::{ConnectionTrait, Database, Statement};
use sha2::{Digest, Sha256};

const BINARY: &str = env!("CARGO_BIN_EXE_doztra-auth");

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("doztra-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn url(&self) -> String {
        format!("sqlite://{}/doztra.db?mode=rwc", self.0.display())
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BINARY)
            .args(args)
            .current_dir(&self.0)
            .env_clear()
            .env("APP_ENV", "production")
            .env("JWT_SECRET", "cli-test-secret-0123456789abcdef0123")
            .env("DATABASE_URL", self.url())
            .env("AUTO_MIGRATE", "true")
            .output()
            .expect("doztra-auth runs")
    }

    async fn rows(&self) -> Vec<(String, String, String)> {
        let db = Database::connect(self.url()).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT name, key_hash, scopes FROM api_keys ORDER BY created_at".to_owned(),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                    r.try_get_by_index(2).unwrap(),
                )
            })
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The line that is the key (the log lines are JSON).
fn secret_line(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("dzk_"))
}

fn shown(output: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn create_api_key_prints_the_secret_once_and_stores_its_hash() {
    let scratch = Scratch::new();
    assert!(scratch.run(&["migrate"]).status.success());
    let output = scratch.run(&[
        "create-api-key",
        "--name",
        "chat-backend",
        "--scope",
        "usage:write",
        "--scope",
        "users:read",
    ]);
    assert!(output.status.success(), "{}", shown(&output));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let secret = secret_line(&stdout).expect("a dzk_ line");
    assert!(
        secret.starts_with("dzk_") && secret.len() == 47,
        "{}",
        shown(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("usage:write,users:read"), "{stderr}");
    assert!(
        !stderr.contains(secret),
        "the secret is printed once, on stdout"
    );
    let rows = scratch.rows().await;
    assert_eq!(
        rows,
        vec![(
            "chat-backend".to_owned(),
            hex::encode(Sha256::digest(secret.as_bytes())),
            "usage:write,users:read".to_owned()
        )]
    );
}

#[tokio::test]
async fn create_api_key_refuses_bad_input_and_stores_nothing() {
    let scratch = Scratch::new();
    assert!(scratch.run(&["migrate"]).status.success());
    for args in [
        &["create-api-key", "--name", "k", "--scope", "admin"][..],
        &["create-api-key", "--name", " ", "--scope", "usage:read"][..],
        &[
            "create-api-key",
            "--name",
            "k",
            "--scope",
            "usage:read",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ][..],
        &["create-api-key", "--name", "k"][..],
    ] {
        let output = scratch.run(args);
        assert!(!output.status.success(), "{args:?}: {}", shown(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            secret_line(&stdout).is_none(),
            "{args:?}: {}",
            shown(&output)
        );
    }
    assert!(scratch.rows().await.is_empty());
}
