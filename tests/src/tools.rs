//! Outside tools the black-box tests drive: a Python virtual environment (for interoperability
//! checks with the ecosystem's own libraries and browser tests with Selenium) and Debian's
//! Chromium with its driver. Each is installed on first use by the test run itself, so a fresh
//! machine needs nothing beyond `cargo test --workspace`; installs are serialised across test
//! processes by a lock file and remembered by a stamp, so later runs start at once.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace's `target` directory (or `CARGO_TARGET_DIR`), found from the test binary's
/// own path (`<target>/<profile>/deps/<binary>`).
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("test binary under <target>/<profile>/deps")
        .to_path_buf()
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Runs `f` while holding an exclusive lock on `<target>/<name>.lock` (across processes).
fn with_lock<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let dir = target_dir();
    std::fs::create_dir_all(&dir).expect("target directory");
    let lock = File::create(dir.join(format!("{name}.lock"))).expect("lock file");
    lock.lock().expect("exclusive lock");
    let result = f();
    let _ = lock.unlock();
    result
}

fn run_checked(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `python` of a virtual environment at `<target>/pyenv` holding every package of
/// `tests/python/requirements.txt` (pinned versions, installed from PyPI on first use and again
/// whenever the file changes).
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| with_lock("pyenv", ensure_python_env))
        .clone()
}

fn ensure_python_env() -> PathBuf {
    let requirements = repo_root().join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/python/requirements.txt");
    let env = target_dir().join("pyenv");
    let python = env.join("bin/python");
    let stamp = env.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return python;
    }
    run_checked(
        Command::new("python3").arg("-m").arg("venv").arg(&env),
        "python3 -m venv",
    );
    run_checked(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install -r tests/python/requirements.txt",
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    python
}

/// Paths of Debian's Chromium and ChromeDriver, installed with apt-get on first use (the
/// machines this runs on allow it as root; a downloaded browser build is not reachable).
pub fn chromium() -> (PathBuf, PathBuf) {
    static CHROMIUM: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CHROMIUM
        .get_or_init(|| with_lock("chromium", ensure_chromium))
        .clone()
}

fn ensure_chromium() -> (PathBuf, PathBuf) {
    let browser = PathBuf::from("/usr/bin/chromium");
    let driver = PathBuf::from("/usr/bin/chromedriver");
    if browser.exists() && driver.exists() {
        return (browser, driver);
    }
    run_checked(
        Command::new("apt-get")
            .args(["-qq", "update"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get update",
    );
    run_checked(
        Command::new("apt-get")
            .args(["-qq", "install", "-y", "--no-install-recommends"])
            .args(["chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install chromium chromium-driver",
    );
    assert!(browser.exists() && driver.exists(), "chromium installed");
    (browser, driver)
}

/// Runs a Python script of `tests/python/` with the test environment's interpreter and the
/// given environment variables; panics with its output unless it exits 0. Returns the output.
pub fn run_python_script(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let path = repo_root().join("tests/python").join(script);
    let output = Command::new(python())
        .arg(&path)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{script}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
