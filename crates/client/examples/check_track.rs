//! An AI backend's metering loop with the client: sign in, check, "call the model", track
//! (retried safely with one `request_id`), then read the month's usage.
//!
//! ```sh
//! cargo run --release &                                   # a server on http://127.0.0.1:8000
//! cargo run -p doztra-client --example check_track
//! ```
//! `DOZTRA_URL`, `DOZTRA_EMAIL` and `DOZTRA_PASSWORD` change the server and the account (it is
//! registered when it does not exist yet).

use doztra_client::{Check, Client, Error, ErrorCode, RequestType, Usage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DOZTRA_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned());
    let email =
        std::env::var("DOZTRA_EMAIL").unwrap_or_else(|_| "backend-demo@example.com".to_owned());
    let password = std::env::var("DOZTRA_PASSWORD").unwrap_or_else(|_| "Password123!".to_owned());
    let client = Client::new(url)?;

    // In a real backend the app sends the user's access token along with its request.
    let session = match client.login(&email, &password).await {
        Ok(session) => session,
        Err(Error::Unauthorized(refusal)) if refusal.code == ErrorCode::InvalidCredentials => {
            client.register("Backend Demo", &email, &password).await?
        }
        Err(e) => return Err(e.into()),
    };
    let token = session.access_token.as_str();
    println!(
        "signed in as {} (plan {:?})",
        session.user.email, session.user.subscription.plan
    );

    // 1. Check before calling the model.
    let model = "gpt-3.5-turbo";
    match client
        .check(
            token,
            &Check::new(RequestType::Chat, model).estimated_tokens(500),
        )
        .await
    {
        Ok(check) => println!("allowed; tokens remaining: {:?}", check.tokens_remaining),
        Err(Error::QuotaExceeded(quota)) => {
            println!(
                "refused: {} (used {:?} of {:?})",
                quota.detail, quota.used, quota.limit
            );
            return Ok(());
        }
        Err(Error::Forbidden(refusal)) => {
            println!("refused: {refusal}");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }

    // 2. The usage exists before the model call: its request_id is fixed now.
    let usage = Usage::new(RequestType::Chat, model).conversation_id("demo-conversation");
    // 3. "Call the model."
    let (prompt_tokens, completion_tokens) = (120, 380);
    let usage = usage
        .prompt_tokens(prompt_tokens)
        .completion_tokens(completion_tokens);

    // 4. Track; sending it again is harmless (a duplicate, counted once).
    let tracked = client.track(token, &usage).await?;
    println!(
        "tracked {} as {} ({} tokens this month, {:?} remaining)",
        usage.request_id(),
        tracked.id,
        tracked.tokens_used,
        tracked.tokens_remaining
    );
    let again = client.track(token, &usage).await?;
    assert!(again.duplicate && again.id == tracked.id);
    println!("sent again: duplicate, nothing counted twice");

    let counters = client.usage(token).await?;
    println!(
        "this month: {} tokens, {} chat messages (limit {:?})",
        counters.tokens.used, counters.chat_messages.used, counters.chat_messages.limit
    );
    Ok(())
}
