use doztra_tests::{TestApp, db_tests};

async fn health_answers(app: TestApp) {
    let res = app.get("/health", None).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

db_tests!(health_answers);
