//! The HTTP side: a keep-alive client and the few calls the bench and the fault scripts make.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The password of every bench account (valid under the contract's password rules).
pub const PASSWORD: &str = "Bench-password-7781";

/// A keep-alive HTTP/1.1 client for loopback targets (proxies ignored).
pub fn client(max_idle: usize) -> Result<Client, String> {
    Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(max_idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("http client: {e}"))
}

/// Refuses anything but loopback targets: the bench never loads another machine.
pub fn ensure_loopback(base: &str) -> Result<(), String> {
    let ok = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|p| base.starts_with(p));
    if ok {
        Ok(())
    } else {
        Err(format!("{base} is not a loopback http:// address"))
    }
}

/// An account the bench can act as.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    /// The sign-in the token belongs to (its `sid` claim), for the direct baseline's read.
    pub session_id: Uuid,
}

/// The `sid` claim of an access token (read, not verified: the bench made the token).
fn session_of(token: &str) -> Result<Uuid, String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or("access token: no payload")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| format!("access token payload: {e}"))?;
    let claims: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("access token claims: {e}"))?;
    claims["sid"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| "access token: no sid".to_owned())
}

/// Registers an account (free plan) and returns its id and access token.
pub async fn register(client: &Client, base: &str, email: &str) -> Result<Account, String> {
    let response = client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"name": "Bench User", "email": email, "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("register: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("register body: {e}"))?;
    if status != StatusCode::CREATED {
        return Err(format!("register {email}: {status} {body}"));
    }
    let token = body["access_token"]
        .as_str()
        .ok_or("register: no access_token")?
        .to_owned();
    let id = body["user"]["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or("register: no user.id")?;
    Ok(Account {
        id,
        email: email.to_owned(),
        session_id: session_of(&token)?,
        token,
    })
}

/// Registers `count` accounts, `concurrency` at a time (each costs one argon2 hash).
pub async fn register_many(
    client: &Client,
    base: &str,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<Account>, String> {
    let mut accounts = Vec::with_capacity(count);
    let run = Uuid::new_v4().simple().to_string();
    let mut start = 0;
    while start < count {
        let end = (start + concurrency.max(1)).min(count);
        let mut batch = Vec::new();
        for i in start..end {
            let client = client.clone();
            let base = base.to_owned();
            let email = format!("{prefix}-{}-{i}@bench.example.com", &run[..8]);
            batch.push(tokio::spawn(async move {
                register(&client, &base, &email).await
            }));
        }
        for task in batch {
            accounts.push(task.await.map_err(|e| e.to_string())??);
        }
        start = end;
    }
    Ok(accounts)
}

/// Signs in with the form body (the OAuth2 password grant); returns the access token.
pub async fn login(client: &Client, base: &str, email: &str) -> Result<String, String> {
    let response = client
        .post(format!("{base}/api/auth/login"))
        .form(&[("username", email), ("password", PASSWORD)])
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("login body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("login: {status} {body}"));
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "login: no access_token".to_owned())
}

/// A GET with the bearer token that must answer 200; the body is read in full.
pub async fn get_ok(client: &Client, url: &str, token: &str) -> Result<(), String> {
    expect_ok(client.get(url).bearer_auth(token), &format!("GET {url}")).await
}

/// A POST of `body` with the bearer token that must answer 200; the body is read in full.
pub async fn post_ok(
    client: &Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    expect_ok(
        client.post(url).bearer_auth(token).json(body),
        &format!("POST {url}"),
    )
    .await
}

/// Sends `request` and reads the answer in full; anything but 200 is an error naming `what`,
/// the status and the body.
async fn expect_ok(request: reqwest::RequestBuilder, what: &str) -> Result<(), String> {
    let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!(
            "{what}: {status} {}",
            String::from_utf8_lossy(&body)
        ))
    }
}

/// The request types and models the bench cycles through (all allowed on every paid plan).
pub const REQUEST_TYPES: [&str; 3] = ["chat", "plagiarism", "prompt"];
pub const MODELS: [&str; 3] = ["gpt-3.5-turbo", "gpt-4", "gpt-4-turbo"];

/// The track body of sequence number `seq`: deterministic, so two load generators with the
/// same prefix send identical payloads for the same `request_id`.
pub fn track_body(
    prefix: &str,
    seq: u64,
    tokens: i64,
    request_type: Option<&str>,
    model: Option<&str>,
) -> Value {
    let prompt = tokens / 3;
    json!({
        "request_type": request_type.unwrap_or(REQUEST_TYPES[(seq % 3) as usize]),
        "model": model.unwrap_or(MODELS[((seq / 3) % 3) as usize]),
        "prompt_tokens": prompt,
        "completion_tokens": tokens - prompt,
        "request_id": format!("{prefix}{seq}"),
        "conversation_id": format!("conv-{}", seq / 10),
    })
}

/// Tracks of 150 tokens over HTTP, each with the next account of `accounts` and a
/// `request_id` of `prefix` and the sequence number.
pub fn track_op(
    client: Client,
    base: &str,
    accounts: Arc<Vec<Account>>,
    prefix: String,
) -> impl Fn(u64, usize) -> crate::load::BoxFut + Clone + Send + Sync + 'static {
    let url = Arc::new(format!("{base}/api/tokens/me/track"));
    let prefix = Arc::new(prefix);
    move |seq, _| {
        let client = client.clone();
        let url = Arc::clone(&url);
        let accounts = Arc::clone(&accounts);
        let prefix = Arc::clone(&prefix);
        Box::pin(async move {
            let account = &accounts[(seq % accounts.len() as u64) as usize];
            let body = track_body(&prefix, seq, 150, None, None);
            post_ok(&client, &url, &account.token, &body).await
        })
    }
}
