//! Runs the documentation's examples (`docs/examples/`) the way a reader would: shell scripts
//! with `bash`, Python snippets with the test environment's interpreter ([`tools::python`]),
//! the Rust example crate with `cargo run`. Each example asserts what it shows and exits
//! non-zero otherwise; a failure shows its whole output.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::tools;

/// `docs/examples/<name>`.
pub fn path(name: &str) -> PathBuf {
    tools::repo_root().join("docs/examples").join(name)
}

fn checked(mut command: Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The shell examples need curl and jq: installed from Debian's packages on first use when
/// missing (as root, like the other tools of the test run).
fn ensure_curl_and_jq() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if on_path("curl") && on_path("jq") {
            return;
        }
        for args in [
            &["-qq", "update"][..],
            &[
                "-qq",
                "install",
                "-y",
                "--no-install-recommends",
                "curl",
                "jq",
            ][..],
        ] {
            let mut command = Command::new("apt-get");
            command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            checked(command, "apt-get (curl, jq)");
        }
    });
}

/// Runs `docs/examples/<name>` (`.sh` with bash, `.py` with the test Python) with `env` added
/// to the environment; panics unless it exits 0. Blocking: call it from `spawn_blocking`.
pub fn run(name: &str, env: &[(&str, &str)]) -> Output {
    let script = path(name);
    let mut command = match script.extension().and_then(|e| e.to_str()) {
        Some("sh") => {
            ensure_curl_and_jq();
            Command::new("bash")
        }
        Some("py") => Command::new(tools::python()),
        _ => panic!("{name}: not a .sh or .py example"),
    };
    command.arg(&script).envs(env.iter().copied());
    checked(command, name)
}

/// Builds and runs the example crate `docs/examples/<name>` with its own target directory
/// (`<target>/doc-examples/<name>`: it is a separate project, and the running `cargo test`
/// holds the workspace's). Blocking.
pub fn cargo_run(name: &str) -> Output {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(["run", "--quiet"])
        .current_dir(path(name))
        .env(
            "CARGO_TARGET_DIR",
            tools::target_dir().join("doc-examples").join(name),
        );
    checked(command, name)
}
