//! The outside tools other suites rely on (tests/src/tools.rs) work on this machine.

use doztra_tests::{Backend, spawn_app, tools};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_python_environment_reaches_a_live_server() {
    let app = spawn_app(Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let address = app.address.clone();
    let output = tokio::task::spawn_blocking(move || {
        tools::run_python_script("health_probe.py", &[], &[("DOZTRA_URL", &address)])
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("ok"), "health body printed: {printed}");
}
