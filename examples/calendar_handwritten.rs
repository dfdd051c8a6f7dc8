//! The calendar flow (`flows/graph-calendar.flow.json`) written by hand with `reqwest` and
//! `serde`, as the baseline of `bench/calendar-vs-handwritten.sh`.
//!
//! It makes the same requests as the flow run with `flows/profiles.sim.json`: one client
//! credentials token request (client id and secret in the form body), then calendarView with the
//! same query (`startDateTime`, `endDateTime`, `$top`, `$orderby`, `$select`) and `Prefer`
//! header, following `@odata.nextLink` to the last page. It maps each item to the same fields
//! (`start`/`end` as UTC RFC 3339, written the way Weft writes instants) and prints the same
//! pretty-printed JSON array as `weft run`.
//!
//! ```text
//! cargo run --release --example calendar_handwritten -- \
//!     http://127.0.0.1:8900 adele@weft.test 2025-01-01T00:00:00Z 2025-02-01T00:00:00Z 10
//! ```
//!
//! The client secret is read from `WEFT_SIM_SECRET` (default: the simulator's `sim-app-secret`).

#[path = "common/calendar.rs"]
mod calendar;
#[path = "common/graph.rs"]
mod graph;
#[path = "common/sim.rs"]
mod sim;

use graph::Result;
use sim::sign_in;

/// Parses the arguments, fetches every page and prints the mapped items.
async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, user, from, to, page_size] = args.as_slice() else {
        return Err("usage: calendar_handwritten SIM_BASE_URL USER FROM TO PAGE_SIZE".into());
    };
    let page_size: u32 = page_size.parse().map_err(|e| format!("bad page size: {e}"))?;
    let base = base.trim_end_matches('/');

    weft::http::ensure_crypto_provider();
    let client = reqwest::Client::builder().build()?;
    let bearer = sign_in(&client, base).await?;
    let events = calendar::user_events(&client, base, &bearer, user, (from, to), page_size).await?;
    println!("{}", serde_json::to_string_pretty(&events)?);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sim::exit_code(run().await)
}
