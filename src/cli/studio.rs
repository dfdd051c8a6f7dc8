//! `weft studio`.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use weft::studio::{Studio, StudioOptions};
use weft_sim::{SimConfig, Simulator};

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct StudioArgs {
    /// The directory whose `*.flow.json` files are edited.
    #[arg(default_value = "flows")]
    dir: PathBuf,
    /// The loopback address to listen on (`127.0.0.1:PORT`; port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8790")]
    listen: SocketAddr,
    /// Start the Entra ID + Graph simulator in-process and run flows against it: requests for
    /// Microsoft's sign-in and Graph hosts go to it, its app stands in for every oauth2
    /// profile, and the run form starts with `profiles.sim.json` and `graph_base` at it.
    #[arg(long)]
    sim: bool,
    /// Where sign-ins are kept (default: the platform's data directory), and `weft.db`, the
    /// default store.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Where runs are recorded, journaled and listed in each flow's history.
    #[command(flatten)]
    store: super::store::StoreArgs,
}

pub(super) fn studio(args: StudioArgs) -> u8 {
    let url = args.store.url(|| super::store::default_url(args.state_dir.as_deref()));
    let durable = match args.store.open(&url) {
        Ok(durable) => durable,
        Err(code) => return code,
    };
    let Some(runtime) = super::async_runtime() else {
        return EXIT_FAILED;
    };
    runtime.block_on(async {
        // Kept alive as long as the studio serves.
        let sim = if args.sim {
            match Simulator::start(SimConfig::default()).await {
                Ok(sim) => Some(sim),
                Err(err) => {
                    eprintln!("error: cannot start the simulator: {err}");
                    return EXIT_FAILED;
                }
            }
        } else {
            None
        };
        let mut options = match &sim {
            Some(sim) => StudioOptions::simulator(sim),
            None => StudioOptions::default(),
        };
        options.state_dir = args.state_dir.clone();
        options.store_url = durable.is_some().then(|| url.to_string());
        options.store = durable;
        let studio = match Studio::bind_with(&args.dir, args.listen, options).await {
            Ok(studio) => studio,
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_BAD_INPUT;
            }
        };
        println!("Weft Studio: open {}", studio.url());
        if let Some(sim) = &sim {
            println!(
                "Simulator (Entra ID + Graph) on {}, Graph at {}: it answers for Microsoft in runs",
                sim.base_url(),
                sim.graph_base()
            );
        }
        match &url {
            weft::store::StoreUrl::None => println!("Runs are not kept (--store none)"),
            url => println!("Runs are kept in {url}: each flow's history lists them"),
        }
        let code = tokio::select! {
            served = studio.run() => match served {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("error: {err}");
                    EXIT_FAILED
                }
            },
            _ = tokio::signal::ctrl_c() => super::EXIT_INTERRUPTED,
        };
        if let Some(sim) = sim {
            sim.shutdown().await;
        }
        code
    })
}
