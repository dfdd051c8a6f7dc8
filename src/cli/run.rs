//! `weft run`.

use clap::Args;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft::durable::{OnInterrupt, Recorded};
use weft::engine::{Engine, profiles_path};
use weft::exec::{self, RunOptions, RunReport, RunStatus};
use weft::params;
use weft::result::RunResult;
use weft::store::StoreUrl;
use weft::trace::{JsonLines, Tee, TraceSink};
use weft_nodes::Interrupt;
use weft_nodes::clip::{MESSAGE_MAX, clip, clip_to};

use super::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED};

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The flow file, or `-` to read the flow from stdin.
    #[arg(value_name = "FLOW")]
    flow: PathBuf,
    /// A parameter, parsed by its declared type (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// A JSON file holding an object of parameters.
    #[arg(long = "params", value_name = "FILE")]
    params_file: Option<PathBuf>,
    /// The profiles file (default: `profiles.json` beside the flow; in the working directory
    /// for a flow on stdin).
    #[arg(long, value_name = "FILE")]
    profiles: Option<PathBuf>,
    /// Start the Entra ID + Graph simulator in-process and send requests for
    /// login.microsoftonline.com and graph.microsoft.com to it; its app stands in for every
    /// oauth2 profile, so Graph flows run offline with no setup.
    #[arg(long)]
    sim: bool,
    /// Where sign-ins are kept (default: the platform's data directory).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Write the result here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the run's trace (weft.trace/1, JSON Lines) here.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The most steps the run may take.
    #[arg(long, value_name = "N", default_value_t = exec::DEFAULT_MAX_STEPS)]
    max_steps: u64,
    /// Fail the run when it takes longer than this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// How large the run's variables may grow, all together (bytes, or with a unit: 512MiB,
    /// 2GiB); a node whose write would pass it fails.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = super::parse_size)]
    max_vars_bytes: usize,
    /// Show progress on stderr (the node running, requests, retries and their waits) even
    /// when stderr is not a terminal; on a terminal it shows unless `--no-progress`.
    #[arg(long, conflicts_with = "no_progress")]
    progress: bool,
    /// Show no progress on stderr.
    #[arg(long, visible_alias = "quiet")]
    no_progress: bool,
    #[command(flatten)]
    store: super::store::StoreArgs,
}

fn bad_input(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_BAD_INPUT
}

/// `weft run`. Its stdout is always JSON: `null` also when the input is bad and nothing ran.
pub(super) fn run(args: RunArgs) -> u8 {
    let to_stdout = args.out.is_none();
    let code = load_and_run(args);
    if code == EXIT_BAD_INPUT && to_stdout {
        println!("null");
    }
    code
}

fn load_and_run(args: RunArgs) -> u8 {
    let Some(runtime) = super::async_runtime() else {
        return EXIT_FAILED;
    };
    // Kept until the run is over: the simulator serves on the runtime's threads.
    let sim = match super::sim::start_in_process(args.sim, &runtime) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let engine = match engine(args.state_dir.as_deref(), sim.as_ref()) {
        Ok(engine) => engine,
        Err(code) => return code,
    };
    let Some((flow, _)) = super::validate::load_or_report(engine.loader(), &args.flow) else {
        return EXIT_BAD_INPUT;
    };
    let file = match &args.params_file {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => match params::parse_file(&bytes) {
                Ok(map) => Some(map),
                Err(err) => return bad_input(format_args!("{}: {err}", path.display())),
            },
            Err(err) => return bad_input(format_args!("cannot read {}: {err}", path.display())),
        },
        None => None,
    };
    let params = match params::resolve(&flow, file, &args.params) {
        Ok(params) => params,
        Err(err) => return bad_input(err),
    };
    let timeout = match args.timeout {
        None => None,
        Some(secs) => match Duration::try_from_secs_f64(secs) {
            Ok(limit) if !limit.is_zero() => Some(limit),
            _ => return bad_input("--timeout must be a positive number of seconds"),
        },
    };
    let trace: Option<Arc<dyn TraceSink>> = match &args.trace {
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(Arc::new(JsonLines::new(Box::new(std::io::BufWriter::new(file))))),
            Err(err) => {
                return bad_input(format_args!("cannot write the trace {}: {err}", path.display()));
            }
        },
        None => None,
    };
    let trace = match (trace, super::progress::wanted(args.progress, args.no_progress)) {
        (Some(file), Some(progress)) => Some(Arc::new(Tee(vec![file, Arc::new(progress)])) as _),
        (trace, progress) => trace.or_else(|| progress.map(|p| Arc::new(p) as _)),
    };
    let profiles = profiles_path(&args.flow, args.profiles.as_deref());
    let services = match engine.runtime_for(&flow, &profiles) {
        Ok(services) => services,
        Err(err) => return bad_input(err),
    };
    // A flow that keeps state needs a store to keep it in: the default one, unless told.
    let url = args.store.url(|| match flow.state {
        Some(_) => super::store::default_url(args.state_dir.as_deref()),
        None => StoreUrl::None,
    });
    if flow.state.is_some() && url == StoreUrl::None {
        return bad_input(format_args!(
            "flow `{}` keeps state between runs (`state`), which needs a store: drop \
             `--store none`, or name one (--store sqlite:PATH)",
            flow.name
        ));
    }
    let durable = match args.store.open(&url) {
        Ok(durable) => durable,
        Err(code) => return code,
    };
    let stored = durable.is_some();
    let interrupt = Interrupt::new();
    let options = RunOptions {
        params,
        max_steps: args.max_steps,
        timeout,
        trace,
        max_vars_bytes: args.max_vars_bytes,
        interrupt: interrupt.clone(),
        ..RunOptions::default()
    };
    let absolute = |path: &Path| std::path::absolute(path).ok().map(|p| p.display().to_string());
    let flow_path = Some(args.flow.as_path()).filter(|p| *p != Path::new("-")).and_then(absolute);
    let profiles_path = absolute(&profiles);
    let report = until_stopped(&runtime, interrupt, async move {
        let Some(durable) = durable else {
            return Ok(exec::run(&flow, &services, options).await);
        };
        let recorded =
            Recorded { flow: &flow, flow_path, profiles_path, idempotency_key: None, parent: None };
        durable.run(recorded, &services, options, OnInterrupt::Cancel).await
    });
    match report {
        Ok(report) if report.status == RunStatus::Failed && stored => {
            let code = report_end(&report, args.out.as_deref());
            // Commands to paste as they are: the same store, and the simulator if it ran here.
            let (id, sim) = (&report.id, if args.sim { " --sim" } else { "" });
            eprintln!(
                "run {id} is kept: `weft runs show {id} --store {url}`; once fixed, `weft runs \
                 resume {id} --store {url}{sim}` runs it again from the node that failed"
            );
            code
        }
        Ok(report) => report_end(&report, args.out.as_deref()),
        Err(err) => {
            eprintln!("error: {err}");
            if args.out.is_none() {
                println!("null");
            }
            EXIT_FAILED
        }
    }
}

/// Runs `run` to its end on `runtime`, Ctrl-C or SIGTERM cancelling it through `interrupt`.
pub(super) fn until_stopped<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    interrupt: Interrupt,
    run: impl Future<Output = T> + Send + 'static,
) -> T {
    runtime.block_on(async {
        // The signal handler is a task of its own, so that a run that computes can't keep it
        // from running; the run's evaluations see the interrupt and stop.
        let stop = super::stop_signal();
        tokio::spawn(async move {
            stop.await;
            interrupt.cancel();
        });
        // The run is a task too, on the worker threads beside the I/O driver: polled from this
        // thread, it would have to be woken across threads at every response.
        match tokio::spawn(run).await {
            Ok(ended) => ended,
            Err(err) => match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => std::panic::resume_unwind(Box::new("the run's task was cancelled")),
            },
        }
    })
}

/// The engine of a command that runs flows: sign-ins kept in `state_dir` (default: the
/// platform's data directory), and `sim`, when there is one, answering for Microsoft.
pub(super) fn engine(
    state_dir: Option<&Path>,
    sim: Option<&weft_sim::SimHandle>,
) -> Result<Engine, u8> {
    let mut engine = Engine::builder();
    if let Some(dir) = state_dir {
        engine = engine.state_dir(dir);
    }
    if let Some(sim) = sim {
        engine = engine.simulator(weft::simulated::SimTarget::of(sim));
    }
    engine.build().map_err(|err| {
        eprintln!("error: {err}");
        EXIT_FAILED
    })
}

/// Writes a run's result and says how it ended, as `weft run` does: the exit code.
pub(super) fn report_end(report: &RunReport, out: Option<&Path>) -> u8 {
    if let Err(err) = write_result(&report.result, out) {
        let place = out.map_or("stdout".to_owned(), |p| p.display().to_string());
        eprintln!("error: cannot write the result to {place}: {err}");
        return EXIT_FAILED;
    }
    match report.status {
        RunStatus::Succeeded => 0,
        RunStatus::Failed => {
            // The node the error names (the one that failed), not the `end` node that reported
            // it, so that the place and the message agree.
            let error = |field: &str| report.error.as_ref()?.get(field)?.as_str();
            let node = error("node").or(report.node.as_deref()).unwrap_or("?");
            let message =
                error("message").unwrap_or("it ended at an `end` node with status failed");
            eprintln!(
                "error: the run failed at node `{}`: {}",
                clip(node),
                clip_to(message, MESSAGE_MAX)
            );
            EXIT_FAILED
        }
        RunStatus::Interrupted => {
            eprintln!("interrupted");
            EXIT_INTERRUPTED
        }
    }
}

/// Writes the result as pretty JSON, straight to its destination rather than through a string:
/// a result of many thousand items is not held twice. A reader that went away (`| head`) is not
/// an error.
fn write_result(result: &RunResult, out: Option<&Path>) -> std::io::Result<()> {
    let sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = BufWriter::new(sink);
    let written = result
        .write_pretty(&mut sink)
        .and_then(|()| sink.write_all(b"\n"))
        .and_then(|()| sink.flush());
    match written {
        Err(err) if out.is_none() && err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
