//! A TCP stand-in in front of a test server that misbehaves on chosen requests, for testing
//! clients' retries: the n-th request it receives gets the n-th [`Fault`] (and every request
//! after the list is forwarded). It handles one HTTP/1.1 request per connection and answers
//! with `Connection: close`, and records every request body it saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the stand-in does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass it to the server and relay the answer.
    Forward,
    /// Answer this status with a contract error body (and `Retry-After` when given); the
    /// server never sees the request.
    Answer {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Pass it to the server, then close the connection without relaying the answer (the
    /// server acted; the client cannot know).
    ForwardThenDrop,
    /// Pass it to the server, then answer 502 instead of its answer.
    ForwardThen502,
    /// Hold the connection this long without answering, then close it.
    Hang(Duration),
}

/// A running stand-in; it stops with the test's runtime.
pub struct FlakyProxy {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl FlakyProxy {
    /// Listens on a free port in front of the server at `127.0.0.1:<upstream_port>`.
    pub async fn start(upstream_port: u16, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        tokio::spawn(async move {
            let mut index = 0;
            while let Ok((stream, _)) = listener.accept().await {
                let fault = faults.get(index).copied().unwrap_or(Fault::Forward);
                index += 1;
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let _ = serve(stream, upstream_port, fault, seen).await;
                });
            }
        });
        Self { address, bodies }
    }

    /// The body of every request received so far, in arrival order.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }
}

async fn serve(
    mut client: TcpStream,
    upstream_port: u16,
    fault: Fault,
    seen: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (head, body) = read_request(&mut client).await?;
    seen.lock()
        .expect("lock")
        .push(String::from_utf8_lossy(&body).into_owned());
    match fault {
        Fault::Answer {
            status,
            retry_after,
        } => {
            let body = format!(
                r#"{{"detail":"Stand-in failure.","code":"{}"}}"#,
                if status == 503 {
                    "service_unavailable"
                } else {
                    "internal_error"
                }
            );
            let retry_after = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let answer = format!(
                "HTTP/1.1 {status} Stand-in\r\nContent-Type: application/json\r\n{retry_after}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
        }
        Fault::Hang(duration) => tokio::time::sleep(duration).await,
        Fault::Forward | Fault::ForwardThenDrop | Fault::ForwardThen502 => {
            let answer = forward(upstream_port, &head, &body).await?;
            match fault {
                Fault::Forward => client.write_all(&answer).await?,
                Fault::ForwardThen502 => {
                    client
                        .write_all(
                            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await?;
                }
                _ => {}
            }
        }
    }
    client.shutdown().await
}

/// The request head (up to and including the blank line) and its `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Ok((head, body))
}

/// Sends the request to the server with `Connection: close` and returns its whole answer.
async fn forward(upstream_port: u16, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    let mut lines: Vec<&str> = head
        .trim_end()
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let head = format!("{}\r\n\r\n", lines.join("\r\n"));
    upstream.write_all(head.as_bytes()).await?;
    upstream.write_all(body).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    Ok(answer)
}
