//! `doztra-auth healthcheck`: asks a running server's `/health` (or another path) over plain
//! HTTP/1.1 and succeeds only on a 200. It exists so a container image needs no curl: Docker's
//! `HEALTHCHECK` and compose's `healthcheck` run the binary itself.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long the whole check may take to connect, and then to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Enough for a status line and headers; the body is not needed.
const MAX_ANSWER: u64 = 16 * 1024;

/// Where the server listens, as a client reaches it: the wildcard addresses a server binds
/// (`0.0.0.0`, `::`) are reached on loopback.
pub fn local_target(host: &str, port: u16) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "" | "0.0.0.0" => format!("127.0.0.1:{port}"),
        "::" => format!("[::1]:{port}"),
        h if h.contains(':') => format!("[{h}]:{port}"),
        h => format!("{h}:{port}"),
    }
}

/// GETs `path` from `target` (`host:port`); `Ok` with the status line on a 200, else why not.
pub fn check(target: &str, path: &str) -> Result<String, String> {
    let addresses: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .collect();
    let mut last_error = format!("{target} resolves to no address");
    for address in addresses {
        match ask(address, target, path) {
            Ok(status) if status.split_whitespace().nth(1) == Some("200") => return Ok(status),
            Ok(status) => return Err(format!("{path} answered {status}")),
            Err(e) => last_error = format!("{address}: {e}"),
        }
    }
    Err(last_error)
}

fn ask(address: SocketAddr, host: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: doztra-auth-healthcheck\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default().trim().to_owned();
    if status.starts_with("HTTP/") {
        Ok(status)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the answer is not HTTP",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::local_target;

    #[test]
    fn wildcard_binds_are_reached_on_loopback() {
        assert_eq!(local_target("0.0.0.0", 8000), "127.0.0.1:8000");
        assert_eq!(local_target("::", 8000), "[::1]:8000");
        assert_eq!(local_target("[::]", 80), "[::1]:80");
        assert_eq!(local_target("127.0.0.1", 9), "127.0.0.1:9");
        assert_eq!(local_target("::1", 9), "[::1]:9");
        assert_eq!(local_target("localhost", 9), "localhost:9");
    }
}
