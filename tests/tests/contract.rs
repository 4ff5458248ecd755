//! `docs/API.md` stays true to the server: every route the live OpenAPI document lists has its
//! `` ### `METHOD /path` `` heading in API.md and every such heading is a route of the document
//! (but for the documentation routes listed below, which are served and deliberately not in
//! it); and every error code the HTTP layer can answer is in API.md's error table. The served
//! document is the committed `docs/openapi.json` whatever the deployment's settings (the
//! byte-for-byte check against `doztra-auth openapi` is in `crates/server/tests/deployment.rs`).
//!
//! The OpenAPI document does not depend on the database, so this runs on SQLite only.

use std::collections::BTreeSet;

use doztra_tests::{Backend, spawn_app, spawn_app_with, tools};
use serde_json::Value;

/// Served, documented in API.md, and deliberately absent from the OpenAPI document.
const NOT_IN_OPENAPI: [(&str, &str, &str); 2] = [
    (
        "GET",
        "/api/openapi.json",
        "the OpenAPI document itself; a document does not list the route that serves it",
    ),
    (
        "GET",
        "/docs",
        "Swagger UI (a redirect to /docs/ and the vendored page's assets), not part of the API",
    ),
];

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn api_md() -> String {
    std::fs::read_to_string(tools::repo_root().join("docs/API.md")).expect("docs/API.md")
}

/// The `(METHOD, /path)` of every `` ### `METHOD /path` `` heading, failing on a malformed or
/// repeated one.
fn documented_routes(text: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("### `") else {
            continue;
        };
        let route = rest.strip_suffix('`').unwrap_or_else(|| {
            panic!(
                "API.md:{}: a route heading ends with a backtick",
                number + 1
            )
        });
        let (method, path) = route
            .split_once(' ')
            .unwrap_or_else(|| panic!("API.md:{}: `METHOD /path`", number + 1));
        assert!(
            METHODS.contains(&method) && path.starts_with('/') && !path.contains(' '),
            "API.md:{}: {route:?} is not `METHOD /path`",
            number + 1
        );
        assert!(
            routes.insert((method.to_owned(), path.to_owned())),
            "API.md:{}: {route} has two headings",
            number + 1
        );
    }
    routes
}

fn openapi_routes(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(|key| key.to_ascii_uppercase())
                .filter(|method| METHODS.contains(&method.as_str()))
                .map(move |method| (method, path.clone()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_openapi_document_is_in_api_md_and_back() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite");
    let res = app.get("/api/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let served = openapi_routes(&res.json().await.unwrap());
    assert!(
        served.len() > 30,
        "the document lists the routes: {served:?}"
    );
    let documented = documented_routes(&api_md());
    let exempt: BTreeSet<(String, String)> = NOT_IN_OPENAPI
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();

    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes of /api/openapi.json without a ### `METHOD /path` heading in docs/API.md: {undocumented:?}"
    );
    let unserved: Vec<_> = documented
        .difference(&served)
        .filter(|route| !exempt.contains(*route))
        .collect();
    assert!(
        unserved.is_empty(),
        "routes documented in docs/API.md that /api/openapi.json does not list: {unserved:?}"
    );

    // The exemptions stay honest: documented, served, and really absent from the document.
    for (method, path, why) in NOT_IN_OPENAPI {
        let route = (method.to_owned(), path.to_owned());
        assert!(
            documented.contains(&route),
            "{method} {path} ({why}) is documented"
        );
        assert!(
            !served.contains(&route),
            "{method} {path} is now in OpenAPI: drop the exemption"
        );
        let status = app.get(path, None).await.status().as_u16();
        assert!(
            status == 200 || status == 308,
            "{method} {path} is served (got {status})"
        );
    }
}

const REGENERATE: &str = "cargo run -q -p doztra-server -- openapi > docs/openapi.json";

/// A deployment with its own models serves the committed document unchanged: `model` fields
/// are strings with the built-in models as examples, never an enum of this catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_committed_one_whatever_the_catalog() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("MODEL_CATALOG", "gpt-4o=gpt-4,claude-3-opus=gpt-4-turbo")],
    )
    .await
    .expect("SQLite");
    let served: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let text = std::fs::read_to_string(tools::repo_root().join("docs/openapi.json"))
        .unwrap_or_else(|e| panic!("docs/openapi.json ({e}); create it with: {REGENERATE}"));
    let committed: Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    assert!(
        served == committed,
        "/api/openapi.json differs from docs/openapi.json; regenerate it with: {REGENERATE}"
    );
    assert_eq!(
        api::openapi::document_json().unwrap(),
        text,
        "docs/openapi.json is stale; regenerate it with: {REGENERATE}"
    );

    let schemas = &committed["components"]["schemas"];
    for (schema, property) in [
        ("TrackRequestBody", "model"),
        ("CheckRequestBody", "model"),
        ("ReservationRequestBody", "model"),
        ("PreferencesUpdateRequest", "default_model"),
    ] {
        let field = &schemas[schema]["properties"][property];
        assert!(field.get("enum").is_none(), "{schema}.{property}: {field}");
        assert_eq!(
            field["examples"],
            serde_json::json!(["gpt-3.5-turbo", "gpt-4", "gpt-4-turbo"]),
            "{schema}.{property}: {field}"
        );
    }
    assert!(
        !text.contains("claude-3-opus"),
        "nothing of this deployment's catalog"
    );
}

/// The code of each `ApiError::new(StatusCode::X, "code", ...)` in `source`.
fn codes_after_status(source: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for part in source.split("StatusCode::").skip(1) {
        let Some((_, after)) = part.split_once(',') else {
            continue;
        };
        let after = after.trim_start();
        if let Some(literal) = after.strip_prefix('"')
            && let Some((code, _)) = literal.split_once('"')
        {
            codes.push(code.to_owned());
        }
    }
    codes
}

/// Every `=> "code"` arm and `("code", "detail")` pair of error.rs.
fn codes_of_error_rs(source: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for opener in ["=> \"", "(\""] {
        for part in source.split(opener).skip(1) {
            if let Some((code, _)) = part.split_once('"') {
                codes.push(code.to_owned());
            }
        }
    }
    codes
}

fn is_code(word: &str) -> bool {
    word.contains('_') && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

#[test]
fn every_error_code_the_http_layer_answers_is_in_the_error_table() {
    let root = tools::repo_root().join("crates/api/src");
    let mut codes = BTreeSet::new();
    // Body fields and log fields that are not codes.
    let not_codes = ["decline_code", "reset_date", "user_id"];
    let error_rs = std::fs::read_to_string(root.join("error.rs")).unwrap();
    codes.extend(codes_of_error_rs(&error_rs));
    let mut sources = vec![root.join("extractors.rs")];
    sources.extend(
        std::fs::read_dir(root.join("routes"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for path in sources {
        codes.extend(codes_after_status(&std::fs::read_to_string(path).unwrap()));
    }
    // Codes the domain decides (quota refusals and field errors).
    codes.extend(
        [
            "model_not_allowed",
            "token_limit_exceeded",
            "chat_message_limit_exceeded",
            "plagiarism_check_limit_exceeded",
            "prompt_limit_exceeded",
            "weak_password",
            "unknown_model",
        ]
        .map(str::to_owned),
    );
    codes.retain(|c| is_code(c) && !not_codes.contains(&c.as_str()));
    assert!(codes.len() > 30, "found the codes: {codes:?}");

    let text = api_md();
    let table = text
        .split("## Error codes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("an `## Error codes` section in docs/API.md");
    let missing: Vec<_> = codes
        .iter()
        .filter(|code| !table.contains(&format!("| `{code}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes the service answers but docs/API.md's error table lacks: {missing:?}"
    );
}
