//! `weft serve`.

use clap::Args;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use weft::serve::{DEFAULT_LISTEN, ServeConfig, Server, TOKEN_VAR};

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The directory whose `*.flow.json` files are served.
    #[arg(default_value = "flows")]
    dir: PathBuf,
    /// The address to listen on (`IP:PORT`, or a port on 127.0.0.1). Any address other than
    /// loopback requires the access token in WEFT_SERVE_TOKEN.
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN.to_string(), value_parser = parse_listen)]
    listen: String,
    /// The profiles file (default: `profiles.json` in DIR).
    #[arg(long, value_name = "FILE")]
    profiles: Option<PathBuf>,
    /// Start the Entra ID + Graph simulator in-process and send requests for
    /// login.microsoftonline.com and graph.microsoft.com to it; its app stands in for every
    /// oauth2 profile, so Graph flows are served offline with no setup.
    #[arg(long)]
    sim: bool,
    /// The most runs in flight at once; more are answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = weft::serve::DEFAULT_MAX_RUNS)]
    max_runs: usize,
    /// The per-run time limit in seconds (0: none); a run that passes it is answered 504.
    #[arg(long, value_name = "SECS", default_value_t = weft::serve::DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// Where sign-ins are kept (default: the platform's data directory).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The largest request body accepted, in bytes; larger ones are answered 413.
    #[arg(long, value_name = "BYTES", default_value_t = weft::serve::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// The step limit of each run.
    #[arg(long, value_name = "N", default_value_t = weft::exec::DEFAULT_MAX_STEPS)]
    max_steps: u64,
    /// How large each run's variables may grow, all together (bytes, or 512MiB, 2GiB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = super::parse_size)]
    max_vars_bytes: usize,
    /// On Ctrl-C or SIGTERM, how many seconds runs in flight get to finish; the server exits
    /// within it, answering the runs it interrupts 503 with Retry-After.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    grace: f64,
    #[command(flatten)]
    store: super::store::StoreArgs,
    /// How long finished runs are kept; older ones are pruned (`0s`: kept for ever).
    #[arg(long, value_name = "AGE", value_parser = weft::store::parse_age, default_value = "30d")]
    keep: Duration,
}

/// `IP:PORT`, or a bare port on 127.0.0.1.
fn parse_listen(text: &str) -> Result<String, String> {
    listen_addr(text).map(|a| a.to_string())
}

fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = text.strip_prefix("localhost:").and_then(|p| p.parse::<u16>().ok()) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "`{}` is not an address: expected IP:PORT (such as 127.0.0.1:8787) or a port",
            weft_nodes::clip(text)
        )
    })
}

pub(super) fn serve(args: ServeArgs) -> u8 {
    let listen = match listen_addr(&args.listen) {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    let timeout = match Duration::try_from_secs_f64(args.timeout) {
        _ if args.timeout == 0.0 => None,
        Ok(limit) if !limit.is_zero() => Some(limit),
        _ => {
            eprintln!("error: --timeout must be a number of seconds, 0 for no limit");
            return EXIT_BAD_INPUT;
        }
    };
    let mut config = ServeConfig::new(&args.dir);
    config.listen = listen;
    config.profiles = args.profiles;
    config.state_dir = args.state_dir;
    config.max_runs = args.max_runs;
    config.timeout = timeout;
    config.max_body = args.max_body;
    config.max_steps = args.max_steps;
    config.max_vars_bytes = args.max_vars_bytes;
    config.shutdown_grace = match Duration::try_from_secs_f64(args.grace) {
        Ok(grace) => grace,
        Err(_) => {
            eprintln!("error: --grace must be a number of seconds");
            return EXIT_BAD_INPUT;
        }
    };
    config.token = std::env::var(TOKEN_VAR).ok();
    let url = args.store.url(|| super::store::default_url(config.state_dir.as_deref()));
    config.store = match args.store.open(&url) {
        Ok(durable) => durable.map(|d| d.store),
        Err(code) => return code,
    };
    config.lease = args.store.lease;
    config.keep = Some(args.keep).filter(|keep| !keep.is_zero());
    // One thread for accepting, answering and keeping time: the runs have the run pool's
    // threads (one per core), and more threads than cores only switch more.
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => {
                eprintln!("error: cannot start the async runtime: {err}");
                return EXIT_FAILED;
            }
        };
    // Kept while the server serves: the simulator answers on the same runtime.
    let sim = match super::sim::start_in_process(args.sim, &runtime) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    config.sim = sim.as_ref().map(weft::simulated::SimTarget::of);
    runtime.block_on(async {
        if let Some(sim) = &sim {
            eprintln!(
                "Simulator (Entra ID + Graph) on {}: it answers for Microsoft",
                sim.base_url()
            );
        }
        let server = match Server::bind(config).await {
            Ok(server) => server,
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_BAD_INPUT;
            }
        };
        eprint!("{}", summary(&server));
        match &url {
            weft::store::StoreUrl::None => eprintln!("  runs are not kept (--store none)"),
            url => eprintln!("  runs are kept in {url}"),
        }
        eprintln!(
            "  POST {}/runs/{{flow}}   GET /runs   GET /flows   GET /health   (Ctrl-C or SIGTERM stops)",
            server.url()
        );
        let stopped = server
            .serve_until(async {
                super::stop_signal().await;
                eprintln!("shutting down: finishing the runs in flight");
            })
            .await;
        match stopped {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("error: {err}");
                EXIT_FAILED
            }
        }
    })
}

/// What is served and what is not, with why: a flow that can't be served is never skipped
/// silently.
fn summary(server: &weft::serve::ServerHandle) -> String {
    let served = server.flows();
    let skipped = server.skipped();
    let total = served.len() + skipped.len();
    let mut out = format!(
        "Serving {} of {total} flow{} on {}: {}\n",
        served.len(),
        if total == 1 { "" } else { "s" },
        server.url(),
        served.join(", ")
    );
    if !skipped.is_empty() {
        out.push_str(&format!("Not serving {} (GET /flows lists them too):\n", skipped.len()));
        for s in skipped {
            out.push_str(&format!("  {} ({}): {}\n", s.name, s.file.display(), s.reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr("9000").unwrap().to_string(), "127.0.0.1:9000");
        assert_eq!(listen_addr("localhost:9000").unwrap().to_string(), "127.0.0.1:9000");
        assert_eq!(listen_addr("0.0.0.0:80").unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(listen_addr("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(listen_addr("example.com:80").is_err());
    }
}
