//! The team's calendars (`bench/weft/fanout.flow.json`: `flows/user-calendar.flow.json` once
//! per user, 32 at a time) written by hand with `reqwest`, `serde` and tokio, as the baseline of
//! `bench/fanout-vs-handwritten.sh`.
//!
//! It signs in once (client credentials), then fetches each user's window page by page, at most
//! `CONCURRENCY` users at a time — each user's pages one after another, so never more than one
//! request in flight for a mailbox, as in the flow — and prints the same pretty-printed JSON as
//! `weft run`: one `{ events, user }` per user, in the list's order.
//!
//! ```text
//! cargo run --release --example fanout_handwritten -- \
//!     http://127.0.0.1:8900 params.json 2025-01-01T00:00:00Z 2025-01-08T00:00:00Z 20 32
//! ```
//!
//! `params.json` is the parameters file the flow gets (`weft run --params`); its `users` are
//! read.

#[path = "common/calendar.rs"]
mod calendar;
#[path = "common/graph.rs"]
mod graph;
#[path = "common/sim.rs"]
mod sim;

use graph::{Event, Result};
use serde::Serialize;
use std::sync::Arc;

/// One user's items, as the child flow's result (keys in the order Weft writes them).
#[derive(Serialize)]
struct UserEvents {
    events: Vec<Event>,
    user: String,
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, params, from, to, page_size, concurrency] = args.as_slice() else {
        return Err(
            "usage: fanout_handwritten SIM_BASE_URL PARAMS_FILE FROM TO PAGE_SIZE CONCURRENCY"
                .into(),
        );
    };
    let page_size: u32 = page_size.parse().map_err(|e| format!("bad page size: {e}"))?;
    let concurrency: usize = concurrency.parse().map_err(|e| format!("bad concurrency: {e}"))?;
    let params: serde_json::Value = serde_json::from_slice(&std::fs::read(params)?)?;
    let users: Vec<String> = serde_json::from_value(params["users"].clone())?;
    let base = base.trim_end_matches('/').to_owned();

    weft::http::ensure_crypto_provider();
    let client = reqwest::Client::builder().build()?;
    let bearer = Arc::new(sim::sign_in(&client, &base).await?);
    let window = Arc::new((from.clone(), to.clone()));
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(users.len());
    for user in users {
        let (client, base, bearer, window, slots) =
            (client.clone(), base.clone(), bearer.clone(), window.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let window = (window.0.as_str(), window.1.as_str());
            let events =
                calendar::user_events(&client, &base, &bearer, &user, window, page_size).await?;
            Result::Ok(UserEvents { events, user })
        }));
    }
    let mut all = Vec::with_capacity(tasks.len());
    for task in tasks {
        all.push(task.await??);
    }
    println!("{}", serde_json::to_string_pretty(&all)?);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sim::exit_code(run().await)
}
