//! The `weft` command line. Each subcommand is a function returning an exit code; errors are
//! reported on stderr with the file, node and field they concern.

mod colour;
mod demo;
mod explain;
mod login;
mod progress;
mod run;
mod runs;
mod serve;
mod sim;
mod state;
mod store;
mod studio;
mod test;
mod validate;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use weft_nodes::Registry;

use weft::flow::Loader;

/// Exit code: bad input (flow, profiles, parameters, files).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: the run failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Weft runs flows: JSON graphs of nodes that sign in, call APIs and map data.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the calendar flow against the built-in simulator (offline).
    Demo(demo::DemoArgs),
    /// Run a flow and print its result as JSON.
    Run(run::RunArgs),
    /// Check flows without running them.
    Validate(validate::ValidateArgs),
    /// The runs a store keeps: list, show, trace, resume, cancel, prune.
    Runs(runs::RunsArgs),
    /// What flows keep between runs: list, show, reset.
    State(state::StateArgs),
    /// Sign in with a user profile (authorization code or device code).
    Login(login::LoginArgs),
    /// Serve a local stand-in for Entra ID and Graph calendars on 127.0.0.1.
    Sim(sim::SimArgs),
    /// Serve the flows of a directory over HTTP (POST /runs/{flow}).
    Serve(serve::ServeArgs),
    /// Run node test files (`*.test.json`) with canned HTTP.
    Test(test::TestArgs),
    /// Edit the flows of a directory in the browser: Weft Studio, on 127.0.0.1.
    Studio(studio::StudioArgs),
    /// Draw a flow as Mermaid, Graphviz DOT or SVG (the studio's drawing).
    Graph {
        /// The flow file.
        flow: PathBuf,
        /// The drawing's format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Explain a node kind: its fields, exits, what it writes, an example; without KIND, list them.
    Explain(explain::ExplainArgs),
    /// Print the JSON Schema of a file format.
    Schema {
        /// Which format.
        #[arg(value_enum)]
        format: SchemaFormat,
    },
    /// Print a shell's completion script (e.g. `weft completions bash > ~/.local/share/bash-completion/completions/weft`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `weft man > weft.1 && man ./weft.1`).
    Man,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
    Svg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaFormat {
    /// `weft.flow/1`
    Flow,
    /// `weft.profiles/1`
    Profiles,
    /// `weft.test/1`
    Test,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    ExitCode::from(match cli.command {
        Command::Demo(args) => demo::demo(args),
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::validate(args),
        Command::Runs(args) => runs::runs(args),
        Command::State(args) => state::state(args),
        Command::Login(args) => login::login(args),
        Command::Sim(args) => sim::sim(args),
        Command::Serve(args) => serve::serve(args),
        Command::Test(args) => test::test(args),
        Command::Studio(args) => studio::studio(args),
        Command::Graph { flow, format } => graph(&flow, format),
        Command::Schema { format } => schema(format),
        Command::Explain(args) => explain::explain(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "weft", &mut std::io::stdout());
            0
        }
        Command::Man => man(),
    })
}

/// Logs go to stderr, in colour only when a person watches; `RUST_LOG` picks what is shown
/// (default: warnings).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour::on_stderr())
        .with_target(false)
        .try_init();
}

fn graph(path: &std::path::Path, format: GraphFormat) -> u8 {
    let Some((flow, bytes)) = validate::load_or_report(&Loader::builtin(), path) else {
        return EXIT_BAD_INPUT;
    };
    print!(
        "{}",
        match format {
            GraphFormat::Mermaid => weft::draw::mermaid(&flow),
            GraphFormat::Dot => weft::draw::dot(&flow),
            GraphFormat::Svg => serde_json::from_slice(&bytes)
                .map(|value| weft::studio::svg::Drawing::of(&value, &Registry::builtin()).svg())
                .unwrap_or_default(),
        }
    );
    0
}

/// The manual page, from the same definitions as `--help`.
fn man() -> u8 {
    let mut page = Vec::new();
    if let Err(err) = clap_mangen::Man::new(Cli::command()).render(&mut page) {
        eprintln!("error: cannot render the manual page: {err}");
        return EXIT_FAILED;
    }
    if let Err(err) = std::io::Write::write_all(&mut std::io::stdout().lock(), &page)
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the manual page: {err}");
        return EXIT_FAILED;
    }
    0
}

fn schema(format: SchemaFormat) -> u8 {
    let schema = match format {
        SchemaFormat::Flow => weft::flow::schema::flow_schema(&Registry::builtin()),
        SchemaFormat::Profiles => weft::auth::profiles::schema(),
        SchemaFormat::Test => weft::testing::schema(),
    };
    println!("{}", pretty(&schema));
    0
}

/// The async runtime the commands run on.
pub(crate) fn async_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            None
        }
    }
}

/// Ctrl-C, or (on Unix) the SIGTERM that service managers and container runtimes send to stop.
///
/// On Unix the handlers are installed when this is called, not when the future is first
/// polled: from then on a signal stops the run rather than killing the process. Must be called
/// inside the runtime.
pub(crate) fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (interrupt, terminate) =
            (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                    one.recv().await;
                }
                // No handler could be installed: the signals keep their default action.
                (Err(_), Err(_)) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A size in bytes: a number, or a number with a unit (`KiB`, `MiB`, `GiB`; `K`, `M`, `G`
/// mean the same), such as `512MiB`.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return Err(format!("`{text}` is not a size: expected bytes, or 512MiB, 2GiB")),
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size: expected a positive whole number"))
}

/// Pretty JSON text; serialising a `Value` can't fail.
pub(crate) fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
