//! The service of `bench/serve-vs-nodered.sh` written by hand with `axum`, `reqwest` and `serde`:
//! the floor the script measures `weft serve` against.
//!
//! `POST /runs/page` takes the same JSON parameters as `bench/weft/page.flow.json` (`graph_base`,
//! `user`, `from`, `to`, `page_size`), GETs that calendarView page with the same query and headers
//! and a bearer token, checks that the status is 200, maps the items to the same fields (`start`
//! and `end` as UTC RFC 3339, written the way Weft writes instants) and answers
//! `{"status":"succeeded","result":[...]}` as `weft serve` does. It signs in once at start-up
//! (client credentials, the secret in the form body), as Weft's token manager does for a run of
//! the benchmark. No flow, no expressions, no limits: only the work itself, on the same
//! allocator as `weft`, so that the difference between the two is the engine's.
//!
//! ```text
//! cargo run --release --example serve_handwritten -- 127.0.0.1:8901 http://127.0.0.1:8900
//! ```
//!
//! The client secret is read from `WEFT_SIM_SECRET` (default: the simulator's `sim-app-secret`).

// Only its calendarView URL is used here: the service fetches one page, not every page.
#[allow(dead_code)]
#[path = "common/calendar.rs"]
mod calendar;
#[path = "common/graph.rs"]
mod graph;
#[path = "common/sim.rs"]
mod sim;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use calendar::calendar_view_url;
use graph::{Event, GraphEvent, Result};
use sim::sign_in;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The run's parameters, as `bench/weft/page.flow.json` declares them.
#[derive(Deserialize)]
struct Params {
    graph_base: String,
    user: String,
    from: String,
    to: String,
    #[serde(default = "default_page_size")]
    page_size: u32,
}

fn default_page_size() -> u32 {
    25
}

/// One calendarView page (only the items).
#[derive(Deserialize)]
struct Page {
    value: Vec<GraphEvent>,
}

/// The answer, shaped as `weft serve`'s.
#[derive(Serialize)]
struct Answer<'a, T: Serialize> {
    status: &'a str,
    result: T,
}

/// What every request shares: the HTTP client and the bearer header.
struct Shared {
    client: reqwest::Client,
    bearer: String,
}

/// Fetches and maps one page.
async fn page(shared: &Shared, params: &Params) -> Result<Vec<Event>> {
    let url = calendar_view_url(
        params.graph_base.trim_end_matches('/'),
        &params.user,
        (&params.from, &params.to),
        params.page_size,
    )?;
    let response = shared
        .client
        .get(url)
        .header("Authorization", &shared.bearer)
        .header("Prefer", "outlook.timezone=\"UTC\"")
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("upstream answered {status}").into());
    }
    let page: Page = serde_json::from_slice(&body)?;
    page.value.into_iter().map(Event::try_from).collect()
}

/// `POST /runs/page`.
async fn run_page(State(shared): State<Arc<Shared>>, Json(params): Json<Params>) -> Response {
    match page(&shared, &params).await {
        Ok(events) => Json(Answer { status: "succeeded", result: events }).into_response(),
        Err(err) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(Answer { status: "failed", result: err.to_string() }),
        )
            .into_response(),
    }
}

/// Signs in, then serves until killed.
async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, base] = args.as_slice() else {
        return Err("usage: serve_handwritten LISTEN_ADDR SIM_BASE_URL".into());
    };
    let base = base.trim_end_matches('/');

    weft::http::ensure_crypto_provider();
    let client = reqwest::Client::builder().build()?;
    let shared = Arc::new(Shared { bearer: sign_in(&client, base).await?, client });

    let app = axum::Router::new().route("/runs/page", post(run_page)).with_state(shared);
    let listener = tokio::net::TcpListener::bind(listen.as_str()).await?;
    eprintln!("serving on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sim::exit_code(run().await)
}
