//! `weft state`: what flows keep between runs, per key.

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use weft::flow::Loader;
use weft::store::KeptState;

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct StateArgs {
    #[command(subcommand)]
    command: StateCommand,
    #[command(flatten)]
    store: super::store::StoreArgs,
    /// The state directory, whose `weft.db` is the default store.
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum StateCommand {
    /// The keys a flow keeps state for, with when and by which run it was stored.
    List {
        /// The flow: its file, or its name.
        flow: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The kept variables of a flow (every key, or one).
    Show {
        /// The flow: its file, or its name.
        flow: String,
        /// Only this key.
        #[arg(long)]
        key: Option<String>,
    },
    /// Forget what a flow kept (every key, or one): its next run starts from the declared
    /// values.
    Reset {
        /// The flow: its file, or its name.
        flow: String,
        /// Only this key.
        #[arg(long)]
        key: Option<String>,
    },
}

pub(super) fn state(args: StateArgs) -> u8 {
    let (durable, runtime) = match super::store::open_kept(&args.store, args.state_dir.as_deref()) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let store = durable.store;
    let (flow, key) = match &args.command {
        StateCommand::List { flow, .. } => (flow, None),
        StateCommand::Show { flow, key } | StateCommand::Reset { flow, key } => {
            (flow, key.as_deref())
        }
    };
    let Some(name) = flow_name(flow) else {
        return EXIT_BAD_INPUT;
    };
    match &args.command {
        StateCommand::Reset { .. } => match runtime.block_on(store.reset_state(&name, key)) {
            Ok(n) => {
                eprintln!(
                    "forgot {n} kept state{} of flow `{name}`",
                    if n == 1 { "" } else { "s" }
                );
                0
            }
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_FAILED
            }
        },
        StateCommand::List { json, .. } => match runtime.block_on(store.states(&name, None)) {
            Ok(states) if *json => {
                let listed: Vec<_> = states.iter().map(|s| serde_json::json!({
                    "key": s.key, "version": s.version, "run": s.run, "updated_at": s.updated_at,
                })).collect();
                println!("{}", serde_json::Value::Array(listed));
                0
            }
            Ok(states) => {
                print!("{}", table(&name, &states));
                0
            }
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_FAILED
            }
        },
        StateCommand::Show { .. } => match runtime.block_on(store.states(&name, key)) {
            Ok(states) if key.is_some() && states.is_empty() => {
                eprintln!(
                    "error: flow `{name}` keeps nothing for key `{}`",
                    key.unwrap_or_default()
                );
                EXIT_BAD_INPUT
            }
            Ok(states) => {
                let shown = serde_json::to_string_pretty(&states).unwrap_or_default();
                println!("{shown}");
                0
            }
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_FAILED
            }
        },
    }
}

/// The name a flow is kept under: read from its file when `flow` is one, else `flow` itself.
fn flow_name(flow: &str) -> Option<String> {
    let path = Path::new(flow);
    if !path.is_file() {
        return Some(flow.to_owned());
    }
    let loaded = Loader::builtin().load_path(path);
    match loaded.flow {
        Some(flow) => Some(flow.name),
        None => {
            for d in &loaded.diagnostics {
                eprintln!("{}", d.located(flow));
            }
            None
        }
    }
}

fn table(flow: &str, states: &[KeptState]) -> String {
    if states.is_empty() {
        return format!("flow `{flow}` keeps no state yet\n");
    }
    let width = states.iter().map(|s| s.key.chars().count()).max().unwrap_or(0).max(3);
    let mut out = format!("{:<width$}  {:>7}  {:<24}  RUN\n", "KEY", "VERSION", "STORED");
    for s in states {
        let key = if s.key.is_empty() { "-" } else { &s.key };
        out.push_str(&format!(
            "{key:<width$}  {:>7}  {:<24}  {}\n",
            s.version,
            s.updated_at,
            s.run.as_deref().unwrap_or("-")
        ));
    }
    out
}
