#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::*;

/// A local HTTP server that counts connections, keeps the raw requests and answers each with
/// `answer` (or never, when `None`).
struct Receiver {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn receiver(answer: Option<&'static str>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let read = stream.read(&mut buffer).await.unwrap_or(0);
                seen.lock()
                    .await
                    .push(String::from_utf8_lossy(&buffer[..read]).into_owned());
                match answer {
                    Some(answer) => {
                        let _ = stream.write_all(answer.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    Receiver {
        port,
        connections,
        requests,
    }
}

fn sender(allow_private: bool, timeout: Duration) -> HttpSender {
    HttpSender::new(SenderSettings {
        allow_private,
        timeout,
    })
    .unwrap()
}

fn attempt<'a>(url: &'a str, secret: &'a WebhookSecret) -> Attempt<'a> {
    Attempt {
        url,
        message_id: "msg_test",
        timestamp: 1_700_000_000,
        body: r#"{"type":"usage.threshold_crossed"}"#,
        secret,
    }
}

const NO_CONTENT: &str =
    "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_loopback_literal_is_refused_without_connecting() {
    let server = receiver(Some(NO_CONTENT)).await;
    let secret = WebhookSecret::generate().unwrap();
    let sender = sender(false, Duration::from_secs(2));
    for url in [
        format!("https://127.0.0.1:{}/hook", server.port),
        format!("https://[::ffff:127.0.0.1]:{}/hook", server.port),
        format!("http://127.0.0.1:{}/hook", server.port),
    ] {
        let error = sender.send(attempt(&url, &secret)).await.unwrap_err();
        assert!(error.is_refused(), "{url}: {error}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_without_connecting() {
    let server = receiver(Some(NO_CONTENT)).await;
    let secret = WebhookSecret::generate().unwrap();
    let url = format!("https://localhost:{}/hook", server.port);
    let error = sender(false, Duration::from_secs(2))
        .send(attempt(&url, &secret))
        .await
        .unwrap_err();
    assert!(error.is_refused(), "{error}");
    assert!(error.to_string().contains("loopback"), "{error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_allowed_target_gets_the_signed_standard_webhooks_request() {
    let server = receiver(Some(NO_CONTENT)).await;
    let secret = WebhookSecret::generate().unwrap();
    let url = format!("http://localhost:{}/hook", server.port);
    let status = sender(true, Duration::from_secs(2))
        .send(attempt(&url, &secret))
        .await
        .unwrap();
    assert_eq!(status, 204);
    let requests = server.requests.lock().await;
    let request = requests[0].to_ascii_lowercase();
    assert!(request.starts_with("post /hook http/1.1"), "{request}");
    assert!(request.contains("webhook-id: msg_test"), "{request}");
    assert!(
        request.contains("webhook-timestamp: 1700000000"),
        "{request}"
    );
    let signature = secret.sign(
        "msg_test",
        1_700_000_000,
        r#"{"type":"usage.threshold_crossed"}"#,
    );
    assert!(
        requests[0].contains(&format!("webhook-signature: {signature}")),
        "{}",
        requests[0]
    );
    assert!(
        request.contains("content-type: application/json"),
        "{request}"
    );
    assert!(requests[0].ends_with(r#"{"type":"usage.threshold_crossed"}"#));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = receiver(Some(NO_CONTENT)).await;
    let location: &'static str = Box::leak(
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{}/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            elsewhere.port
        )
        .into_boxed_str(),
    );
    let server = receiver(Some(location)).await;
    let secret = WebhookSecret::generate().unwrap();
    let url = format!("http://127.0.0.1:{}/hook", server.port);
    let status = sender(true, Duration::from_secs(2))
        .send(attempt(&url, &secret))
        .await
        .unwrap();
    assert_eq!(status, 307);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_silent_target_times_out() {
    let server = receiver(None).await;
    let secret = WebhookSecret::generate().unwrap();
    let url = format!("http://127.0.0.1:{}/hook", server.port);
    let error = sender(true, Duration::from_millis(300))
        .send(attempt(&url, &secret))
        .await
        .unwrap_err();
    assert_eq!(error, SendError::Timeout);
}

#[tokio::test]
async fn a_closed_port_is_a_connection_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let secret = WebhookSecret::generate().unwrap();
    let url = format!("http://127.0.0.1:{port}/hook");
    let error = sender(true, Duration::from_secs(2))
        .send(attempt(&url, &secret))
        .await
        .unwrap_err();
    assert!(matches!(error, SendError::Connect(_)), "{error:?}");
}
