//! `weft demo`: the calendar flow against the simulator, started in-process, offline.

use clap::Args;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
use weft::Engine;
use weft::auth::Profiles;
use weft::exec::{self, RunOptions, RunStatus};
use weft::params::Required;
use weft::trace::{Event, TraceSink};
use weft_nodes::Credentials;
use weft_sim::{APP_CLIENT_SECRET, SimConfig, Simulator};

use super::EXIT_FAILED;

/// The calendar flow and the simulator's profiles, built into the binary so the demo runs
/// from anywhere.
const FLOW: &[u8] = include_bytes!("../../flows/graph-calendar.flow.json");
const PROFILES: &[u8] = include_bytes!("../../flows/profiles.sim.json");

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Print the flow's raw JSON result instead of a table.
    #[arg(long)]
    json: bool,
    /// Whose calendar (adele@weft.test, megan@weft.test, alex@weft.test).
    #[arg(long, default_value = "adele@weft.test")]
    user: String,
}

/// Prints the run's progress on stderr, a line per node and per request.
struct Progress;

impl TraceSink for Progress {
    fn record(&self, _run: &str, event: Event) {
        match event {
            Event::NodeFinished { node, exit, ms, .. } => {
                eprintln!("  {node:<10} → {:<16} {ms:>5} ms", exit.as_deref().unwrap_or("end"));
            }
            Event::Http { method, url, status, attempt, ms, .. } => {
                let path = url.split_once("/v1.0").map_or(url.as_str(), |(_, p)| p);
                let path = path.split('?').next().unwrap_or(path);
                let status = status.map_or("no answer".to_owned(), |s| s.to_string());
                let retry =
                    if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                eprintln!("               {method} {path} → {status}{retry} {ms} ms");
            }
            _ => {}
        }
    }
}

pub(super) fn demo(args: DemoArgs) -> u8 {
    let Some(runtime) = super::async_runtime() else {
        return EXIT_FAILED;
    };
    runtime.block_on(async {
        let sim = match Simulator::start(SimConfig::default()).await {
            Ok(sim) => sim,
            Err(err) => {
                eprintln!("error: cannot start the simulator: {err}");
                return EXIT_FAILED;
            }
        };
        eprintln!("Simulator (Entra ID + Graph) on {}", sim.base_url());
        let report = run_calendar(&sim.base_url(), &sim.graph_base(), &args.user).await;
        sim.shutdown().await;
        let report = match report {
            Ok(report) => report,
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_FAILED;
            }
        };
        if report.status != RunStatus::Succeeded {
            let message =
                report.error.as_ref().and_then(|e| e.get("message")).and_then(Value::as_str);
            eprintln!("error: the flow failed: {}", message.unwrap_or("see above"));
            return EXIT_FAILED;
        }
        if args.json {
            println!("{}", super::pretty(&report.result.to_json()));
        } else {
            print!("{}", table(&report.result.to_json()));
        }
        0
    })
}

async fn run_calendar(
    sim_url: &str,
    graph_base: &str,
    user: &str,
) -> Result<exec::RunReport, String> {
    let (sim_url, secret) = (sim_url.to_owned(), APP_CLIENT_SECRET.to_owned());
    let env = move |name: &str| match name {
        "WEFT_SIM_URL" => Some(sim_url.clone()),
        "WEFT_SIM_SECRET" => Some(secret.clone()),
        _ => None,
    };
    // Client credentials keep nothing, but the engine wants a place: a private one of its own.
    let state = tempfile::Builder::new()
        .prefix("weft-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let engine = Engine::builder()
        .env(Arc::new(env))
        .state_dir(state.path())
        .build()
        .map_err(|e| e.to_string())?;
    let flow = engine
        .loader()
        .load_bytes(FLOW, "graph-calendar")
        .flow
        .ok_or("the built-in calendar flow does not load")?;
    let profiles = Profiles::parse(PROFILES, Path::new("flows/profiles.sim.json"))
        .map_err(|e| e.to_string())?;
    let credentials =
        engine.credentials_of(&profiles, &flow.profiles()).map_err(|e| e.to_string())?;
    let runtime = engine.runtime(credentials.map(|m| m as Arc<dyn Credentials>));
    let mut given = Map::new();
    given.insert("graph_base".into(), graph_base.into());
    given.insert("user".into(), user.into());
    given.insert("page_size".into(), 10.into());
    let params = weft::params::resolve_with(&flow, given, &[], Required::Enforced)
        .map_err(|e| e.to_string())?;
    eprintln!("Running flows/graph-calendar.flow.json for {user}, this week:");
    let options = RunOptions { params, trace: Some(Arc::new(Progress)), ..RunOptions::default() };
    Ok(exec::run(&flow, &runtime, options).await)
}

/// One item a line: start (UTC), duration, subject, location, organizer.
fn table(result: &Value) -> String {
    let items = result.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut out = format!("\n{} items this week (times in UTC)\n", items.len());
    out.push_str(&format!(
        "{:<16}  {:>8}  {:<40}  {:<28}  {}\n",
        "start", "length", "subject", "location", "organizer"
    ));
    for item in items {
        let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
        let start = chrono::DateTime::parse_from_rfc3339(text("start")).ok();
        let end = chrono::DateTime::parse_from_rfc3339(text("end")).ok();
        let when = start
            .map_or_else(|| text("start").to_owned(), |s| s.format("%Y-%m-%d %H:%M").to_string());
        let length = match (start, end, item.get("is_all_day").and_then(Value::as_bool)) {
            (_, _, Some(true)) => "all day".to_owned(),
            (Some(s), Some(e), _) => {
                let minutes = (e - s).num_minutes();
                if minutes % 60 == 0 {
                    format!("{} h", minutes / 60)
                } else {
                    format!("{minutes} min")
                }
            }
            _ => String::new(),
        };
        out.push_str(&format!(
            "{when:<16}  {length:>8}  {}  {}  {}\n",
            fit(text("subject"), 40),
            fit(text("location"), 28),
            text("organizer")
        ));
    }
    out
}

/// `text` in exactly `width` terminal columns: cut with an ellipsis, or padded with spaces.
/// Columns, not characters: CJK and emoji take two (`日本チーム`, `☕`), so the table stays
/// aligned for subjects in any script.
fn fit(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    let total = UnicodeWidthStr::width(text);
    for c in text.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if total > width && used + w + 1 > width {
            out.push('…');
            used += 1;
            break;
        }
        out.push(c);
        used += w;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_counts_terminal_columns() {
        assert_eq!(fit("Standup", 10), "Standup   ");
        // Two columns each: the padding makes up for them.
        assert_eq!(fit("日本", 6), "日本  ");
        assert_eq!(fit("Café ☕", 8), "Café ☕ ");
        // Cut to the width, ellipsis included, never splitting a wide character.
        assert_eq!(fit("Design review — calendar sync", 10), "Design re…");
        assert_eq!(fit("日本チームとの同期", 6), "日本… ");
        assert_eq!(fit("exactly10!", 10), "exactly10!");
    }
}
