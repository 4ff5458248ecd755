//! A minimal SMTP server for tests: accepts every message and keeps it in memory, so the SMTP
//! delivery path can be exercised end to end without a real mail server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A running sink.
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

/// A command the sink refuses, and the reply it refuses it with.
type Refusal = Option<(&'static str, &'static str)>;

impl SmtpSink {
    /// Starts listening on 127.0.0.1 (a free port).
    pub async fn start() -> Self {
        Self::listen(None).await
    }

    /// A sink that answers `verb` (`MAIL`, `RCPT`) with `reply` (e.g. `535 5.7.8 Bad
    /// credentials`) and accepts everything else: a server refusing our setup or a recipient.
    pub async fn refusing(verb: &'static str, reply: &'static str) -> Self {
        Self::listen(Some((verb, reply))).await
    }

    async fn listen(refusal: Refusal) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, store, refusal).await;
                });
            }
        });
        Self { port, messages }
    }

    /// The messages received so far (raw DATA sections).
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits up to 10 s for `count` messages.
    pub async fn wait_for(&self, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let found = self.messages();
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the SMTP sink received {} message(s), expected {count}",
            self.messages().len()
        );
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<String>>>,
    refusal: Refusal,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP ready\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if let Some((refused, reply)) = refusal
            && verb == refused
        {
            write.write_all(format!("{reply}\r\n").as_bytes()).await?;
            continue;
        }
        match verb.as_str() {
            "EHLO" => {
                write
                    .write_all(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    .await?
            }
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push('\n');
                }
                store.lock().unwrap().push(data);
                write.write_all(b"250 OK queued\r\n").await?;
            }
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"502 Command not implemented\r\n").await?,
        }
    }
    Ok(())
}
