//! `weft sim`: the Entra ID + Graph simulator as a server.

use clap::{Args, ValueEnum};
use std::time::Duration;
use weft_sim::{FaultConfig, FaultKind, SimConfig};

use super::EXIT_FAILED;

#[derive(Debug, Args)]
pub(super) struct SimArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8900)]
    port: u16,
    /// The seed the calendars are generated from.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Access token lifetime in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3599)]
    token_lifetime: u64,
    /// A fixed delay before every Graph answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Inject a fault into every Nth Graph request.
    #[arg(long, value_name = "N")]
    fault_every: Option<u32>,
    /// Inject a fault into this fraction of Graph requests (0–1).
    #[arg(long, value_name = "RATE")]
    fault_rate: Option<f64>,
    /// Which faults (repeatable; default: 429 with Retry-After 0.1).
    #[arg(long = "fault", value_enum)]
    faults: Vec<Fault>,
    /// Graph requests in flight at once per app and mailbox, as Outlook allows; more are
    /// answered 429 (0: no limit, for load tests on one mailbox).
    #[arg(long, value_name = "N", default_value_t = 4)]
    mailbox_concurrency: usize,
    /// Add N generated users (user0001@weft.test …) beside the three default ones, for load
    /// tests over many mailboxes.
    #[arg(long, value_name = "N", default_value_t = 0)]
    users: usize,
    /// Days of calendar generated either side of today (fewer: a faster start with many users).
    #[arg(long, value_name = "DAYS")]
    span_days: Option<u32>,
    /// Change the calendars from outside this many times per second (create, rename or move,
    /// delete events near today), so that delta rounds have something to report.
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = churn_rate)]
    churn: f64,
    /// How long a calendarView delta link stays valid, in seconds (default: until the
    /// simulator stops); an expired one is answered 410 SyncStateNotFound.
    #[arg(long, value_name = "SECS")]
    delta_token_lifetime: Option<u64>,
    /// Print no line per request (by default each request answered is printed on stderr).
    #[arg(long, short)]
    quiet: bool,
}

fn churn_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.0..=1000.0).contains(&rate) => Ok(rate),
        _ => Err("a rate of changes per second, from 0 to 1000".into()),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Fault {
    /// 429 Too Many Requests with a fractional Retry-After.
    Throttle,
    /// 503 Service Unavailable.
    Unavailable,
    /// 504 Gateway Timeout.
    GatewayTimeout,
    /// The connection is dropped without an answer.
    Drop,
}

/// With `--sim` (`wanted`), starts the simulator with its defaults on a free port, on
/// `runtime`; the exit code when it can't start. It serves as long as the handle lives.
pub(super) fn start_in_process(
    wanted: bool,
    runtime: &tokio::runtime::Runtime,
) -> Result<Option<weft_sim::SimHandle>, u8> {
    if !wanted {
        return Ok(None);
    }
    let config = SimConfig { port: 0, ..SimConfig::default() };
    runtime.block_on(weft_sim::Simulator::start(config)).map(Some).map_err(|err| {
        eprintln!("error: cannot start the simulator: {err}");
        EXIT_FAILED
    })
}

pub(super) fn sim(args: SimArgs) -> u8 {
    let kinds = args
        .faults
        .iter()
        .map(|f| match f {
            Fault::Throttle => FaultKind::throttle("0.5"),
            Fault::Unavailable => FaultKind::ServiceUnavailable { retry_after: Some("1".into()) },
            Fault::GatewayTimeout => FaultKind::GatewayTimeout,
            Fault::Drop => FaultKind::DropConnection,
        })
        .collect();
    let faults = match (args.fault_every, args.fault_rate) {
        (Some(n), _) => FaultConfig::every(n, kinds),
        (None, Some(rate)) => FaultConfig::at_rate(rate, kinds),
        (None, None) => FaultConfig::none(),
    };
    let config = SimConfig {
        port: args.port,
        seed: args.seed,
        token_lifetime: Duration::from_secs(args.token_lifetime),
        latency: Duration::from_millis(args.latency_ms),
        faults,
        mailbox_concurrency: args.mailbox_concurrency,
        ..SimConfig::default()
    }
    .with_generated_users(args.users);
    let config = SimConfig {
        span_days: args.span_days.unwrap_or(config.span_days),
        churn_per_second: args.churn,
        delta_token_lifetime: args.delta_token_lifetime.map(Duration::from_secs),
        ..config
    };
    let Some(runtime) = super::async_runtime() else {
        return EXIT_FAILED;
    };
    runtime.block_on(async {
        let sim = match weft_sim::Simulator::start(config).await {
            Ok(sim) => sim,
            Err(err) => {
                eprintln!("error: cannot start the simulator on port {}: {err}", args.port);
                return EXIT_FAILED;
            }
        };
        println!("Entra ID + Graph simulator on {}", sim.base_url());
        println!("  token endpoint  {}", sim.token_url());
        println!("  Graph           {}", sim.graph_base());
        println!("  app             {} (secret: see WEFT_SIM_SECRET below)", weft_sim::APP_CLIENT_ID);
        println!("  users           adele@weft.test, megan@weft.test, alex@weft.test");
        println!();
        println!("To run the calendar flow against it:");
        println!("  export WEFT_SIM_URL={} WEFT_SIM_SECRET={}", sim.base_url(), weft_sim::APP_CLIENT_SECRET);
        println!(
            "  weft run flows/graph-calendar.flow.json --profiles flows/profiles.sim.json \\\n    --param graph_base={} --param user=adele@weft.test",
            sim.graph_base()
        );
        println!("Ctrl-C stops it.");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let printing = (!args.quiet).then(|| tokio::spawn(print_requests(sim.requests(), stopped)));
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        // What the log still holds is printed before the process ends.
        let _ = stop.send(());
        if let Some(printing) = printing {
            let _ = printing.await;
        }
        0
    })
}

/// Prints each line of the simulator's log on stderr — the requests it answers, the changes
/// its churn makes — until `stop`, then what is left.
async fn print_requests(
    mut lines: tokio::sync::broadcast::Receiver<String>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Ok(line) => eprintln!("{line}"),
                Err(RecvError::Lagged(missed)) => eprintln!("({missed} lines not shown)"),
                Err(RecvError::Closed) => return,
            },
            _ = &mut stop => loop {
                match lines.try_recv() {
                    Ok(line) => eprintln!("{line}"),
                    Err(TryRecvError::Lagged(missed)) => eprintln!("({missed} lines not shown)"),
                    Err(_) => return,
                }
            },
        }
    }
}
