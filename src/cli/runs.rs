//! `weft runs`: the history of a store, and steering its runs by hand.

use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;
use weft::durable::{Durable, OnInterrupt};
use weft::engine::profiles_path;
use weft::exec::{self, RunOptions};
use weft::store::{self, Cancelled, Filter, RunDetail, RunRecord, Status, StoreError};
use weft_nodes::Interrupt;

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
    #[command(flatten)]
    store: super::store::StoreArgs,
    /// The state directory: sign-ins, and `weft.db`, the default store.
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// Aligned columns, for people.
    Table,
    /// JSON, for programs.
    Json,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// The runs, newest first.
    List {
        /// Only runs of this flow (its name).
        #[arg(long)]
        flow: Option<String>,
        /// Only runs in this status: queued, running, succeeded, failed, cancelled.
        #[arg(long)]
        status: Option<Status>,
        /// Only runs created in this past period (e.g. 2h, 7d).
        #[arg(long, value_parser = store::parse_age)]
        since: Option<Duration>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The runs this run's `call` nodes ran (without it: the runs nobody called).
        #[arg(long, value_name = "ID")]
        parent: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One run: its parameters, result, error and steps.
    Show {
        /// The run's id.
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// A run's trace (weft.trace/1, JSON Lines), from its journal, with those of the runs it
    /// called.
    Trace {
        /// The run's id.
        id: String,
    },
    /// Run the rest of an interrupted run, or a failed run again from the node that failed,
    /// in the foreground: prints and exits as `weft run` does.
    Resume(ResumeArgs),
    /// Cancel a run that is not over (a running one stops at its next lease renewal).
    Cancel {
        /// The run's id.
        id: String,
    },
    /// Delete runs that ended more than a period ago, and give their space back.
    Prune {
        /// How old a finished run must be (e.g. 30d, 12h).
        #[arg(long, value_parser = store::parse_age, default_value = "30d")]
        older_than: Duration,
    },
}

#[derive(Debug, Args)]
struct ResumeArgs {
    /// The run's id.
    id: String,
    /// The profiles file (default: the one the run was started with).
    #[arg(long, value_name = "FILE")]
    profiles: Option<PathBuf>,
    /// Start the simulator in-process, as `weft run --sim` does.
    #[arg(long)]
    sim: bool,
    /// Write the result here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The most steps the run may take, all attempts together.
    #[arg(long, value_name = "N", default_value_t = exec::DEFAULT_MAX_STEPS)]
    max_steps: u64,
}

pub(super) fn runs(args: RunsArgs) -> u8 {
    let (durable, runtime) = match super::store::open_kept(&args.store, args.state_dir.as_deref()) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let store = durable.store.clone();
    match args.command {
        RunsCommand::List { flow, status, since, limit, parent, format } => {
            let since_ms = since.map(|age| {
                chrono::Utc::now().timestamp_millis()
                    - i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
            });
            let filter =
                Filter { flow, status, since_ms, limit: Some(limit), parent, ..Filter::default() };
            match runtime.block_on(store.list(filter)) {
                Ok(runs) => {
                    match format {
                        Format::Json => print_json(&runs),
                        Format::Table => print_text(&table(&runs)),
                    }
                    0
                }
                Err(err) => fail(&err),
            }
        }
        RunsCommand::Show { id, format } => match runtime.block_on(store.get(&id)) {
            Ok(detail) => {
                match format {
                    Format::Json => print_json(&detail.redacted()),
                    Format::Table => print_text(&show(&detail)),
                }
                0
            }
            Err(err) => fail(&err),
        },
        RunsCommand::Trace { id } => match runtime
            .block_on(async { store::trace_tree(&*store, store.get(&id).await?).await })
        {
            Ok(events) => {
                use std::io::Write;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                // A reader that went away (`| head`) ends the listing, not the program.
                let _ = events
                    .iter()
                    .try_for_each(|event| writeln!(out, "{event}"))
                    .and_then(|()| out.flush());
                0
            }
            Err(err) => fail(&err),
        },
        RunsCommand::Resume(resume) => {
            resume_run(&runtime, &durable, args.state_dir.as_deref(), resume)
        }
        RunsCommand::Cancel { id } => match runtime.block_on(store.cancel(&id)) {
            Ok(Cancelled::Now) => {
                eprintln!("run {id} is cancelled");
                0
            }
            Ok(Cancelled::Requested) => {
                eprintln!("run {id} is running in another process: it was asked to stop");
                0
            }
            Err(err) => fail(&err),
        },
        RunsCommand::Prune { older_than } => {
            let before = chrono::Utc::now().timestamp_millis()
                - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
            match runtime.block_on(store.prune(before)) {
                Ok(pruned) => {
                    eprintln!("pruned {pruned} run{}", if pruned == 1 { "" } else { "s" });
                    0
                }
                Err(err) => fail(&err),
            }
        }
    }
}

fn fail(err: &StoreError) -> u8 {
    eprintln!("error: {err}");
    match err {
        StoreError::NoSuchRun { .. }
        | StoreError::Finished { .. }
        | StoreError::Held { .. }
        | StoreError::Child { .. } => EXIT_BAD_INPUT,
        _ => EXIT_FAILED,
    }
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => print_text(&(text + "\n")),
        Err(err) => eprintln!("error: {err}"),
    }
}

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
fn print_text(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `weft runs resume`: claims the run and runs the rest of it here.
fn resume_run(
    runtime: &tokio::runtime::Runtime,
    durable: &Durable,
    state_dir: Option<&Path>,
    args: ResumeArgs,
) -> u8 {
    let sim = match super::sim::start_in_process(args.sim, runtime) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let engine = match super::run::engine(state_dir, sim.as_ref()) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    // Everything that can refuse the run is checked before it is claimed: a refused resume
    // leaves the run as it was.
    let checked = runtime.block_on(async {
        let detail = durable.store.get(&args.id).await?;
        let pinned = durable.store.pinned(&detail.run.flow_hash).await?;
        Ok::<_, StoreError>((detail, pinned))
    });
    let (detail, pinned) = match checked {
        Ok(checked) => checked,
        Err(err) => return fail(&err),
    };
    let run = &detail.run;
    if let Some(refused) = run.resume_refused() {
        return fail(&refused);
    }
    let flow_path = run.flow_path.clone().map(PathBuf::from);
    let shown = run.flow_file();
    let loaded = engine.loader().load_pinned(&pinned, &shown);
    let Some(flow) = loaded.flow else {
        for d in &loaded.diagnostics {
            eprintln!("{}", d.located(&shown.display().to_string()));
        }
        return EXIT_BAD_INPUT;
    };
    let profiles = args.profiles.clone().or_else(|| run.profiles_path.clone().map(PathBuf::from));
    let profiles =
        profiles_path(flow_path.as_deref().unwrap_or(Path::new("-")), profiles.as_deref());
    let services = match engine.runtime_for(&flow, &profiles) {
        Ok(services) => services,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    let claimed = match runtime.block_on(durable.store.claim(&args.id, durable.holder.clone())) {
        Ok(claimed) => claimed,
        Err(err) => return fail(&err),
    };
    let interrupt = Interrupt::new();
    let options = RunOptions {
        max_steps: args.max_steps,
        interrupt: interrupt.clone(),
        ..RunOptions::default()
    };
    let durable = durable.clone();
    let resumed = async move {
        durable.resume(claimed, &flow, &services, options, OnInterrupt::Cancel).await
    };
    let report = super::run::until_stopped(runtime, interrupt, resumed);
    match report {
        Ok(report) => super::run::report_end(&report, args.out.as_deref()),
        Err(err) => {
            eprintln!("error: {err}");
            EXIT_FAILED
        }
    }
}

/// Runs as aligned columns.
fn table(runs: &[RunRecord]) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "FLOW".to_owned(),
        "STATUS".to_owned(),
        "CREATED".to_owned(),
        "TOOK".to_owned(),
        "ATTEMPTS".to_owned(),
    ]];
    for run in runs {
        let status = match run.status {
            Status::Running if !run.lease_live => "running (no live holder)".to_owned(),
            other => other.to_string(),
        };
        // A child run says which node and element of its parent it ran for.
        let flow = match (&run.parent_node, run.parent_index) {
            (Some(node), Some(index)) => format!("{} ← {node}[{index}]", run.flow),
            (Some(node), None) => format!("{} ← {node}", run.flow),
            _ => run.flow.clone(),
        };
        rows.push([
            run.id.clone(),
            flow,
            status,
            run.created_at.clone(),
            took(run),
            run.attempts.to_string(),
        ]);
    }
    if runs.is_empty() {
        return "no runs\n".into();
    }
    columns(&rows)
}

/// How long a finished run took, as people read it.
fn took(run: &RunRecord) -> String {
    let parse = |t: &Option<String>| chrono::DateTime::parse_from_rfc3339(t.as_deref()?).ok();
    match (parse(&run.started_at), parse(&run.finished_at)) {
        (Some(start), Some(end)) => {
            let ms = (end - start).num_milliseconds();
            if ms < 1000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
        }
        _ => "-".into(),
    }
}

fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One run, for people.
fn show(detail: &RunDetail) -> String {
    let run = &detail.run;
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<10} {v}\n"));
    line("run", &run.id);
    line(
        "flow",
        &format!("{} (version {})", run.flow, &run.flow_hash[..12.min(run.flow_hash.len())]),
    );
    line("status", run.status.as_str());
    if let Some(parent) = &run.parent {
        let node = run.parent_node.as_deref().unwrap_or("?");
        let element = run.parent_index.map(|i| format!(", element {i}")).unwrap_or_default();
        line("called by", &format!("run {parent}, node `{node}`{element}"));
    }
    line("attempts", &run.attempts.to_string());
    line("created", &run.created_at);
    if let Some(finished) = &run.finished_at {
        line("finished", finished);
    }
    let mut params = detail.params.clone();
    weft::trace::redact(&mut params);
    line("params", &params.to_string());
    if let Some(error) = &detail.error {
        let message = error.get("message").and_then(|m| m.as_str()).unwrap_or_default();
        let node = error.get("node").and_then(|m| m.as_str()).unwrap_or("?");
        line("error", &format!("at `{node}`: {message}"));
    }
    out.push('\n');
    let mut rows = vec![[
        "STEP".to_owned(),
        "NODE".to_owned(),
        "TYPE".to_owned(),
        "EXIT".to_owned(),
        "MS".to_owned(),
        "HTTP".to_owned(),
    ]];
    for step in &detail.steps {
        rows.push([
            step.step.to_string(),
            step.node.clone(),
            step.kind.clone(),
            step.exit.clone().unwrap_or_else(|| "(end)".into()),
            step.ms.to_string(),
            step.http.len().to_string(),
        ]);
    }
    out.push_str(&columns(&rows));
    out
}
