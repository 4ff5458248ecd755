//! A local HTTP server standing in for a webhook receiver: it records every request (headers,
//! body, arrival time) and answers each with the status its script says, so tests can make an
//! endpoint fail, succeed, or hang, and then look at exactly what was sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The event's `type`.
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

/// How the receiver answers the n-th request (0-based).
type Script = Arc<dyn Fn(usize) -> Option<u16> + Send + Sync>;

/// A running receiver (stops with the test's runtime).
pub struct WebhookReceiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    /// Answers every request with `status`.
    pub async fn answering(status: u16) -> Self {
        Self::scripted(move |_| Some(status)).await
    }

    /// Answers request `n` with `script(n)`; `None` holds the connection open without answering.
    pub async fn scripted(script: impl Fn(usize) -> Option<u16> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let seen = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move { serve(stream, seen, script).await });
            }
        });
        Self { port, received }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits (up to 20 s) until `count` requests arrived; returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..400 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver did not get {count} request(s); got {}",
            self.received().len()
        );
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<Received>>>, script: Script) {
    loop {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let index = {
            let mut seen = seen.lock().expect("lock");
            seen.push(request);
            seen.len() - 1
        };
        let Some(status) = script(index) else {
            tokio::time::sleep(Duration::from_secs(600)).await;
            return;
        };
        let answer = format!(
            "HTTP/1.1 {status} Scripted\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned(),
        at: Instant::now(),
    })
}
