//! `weft studio`.

use crate::studio::Studio;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct StudioArgs {
    /// The directory whose `*.flow.json` files are edited.
    #[arg(default_value = "flows")]
    dir: PathBuf,
    /// The loopback address to listen on (`127.0.0.1:PORT`; port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8790")]
    listen: SocketAddr,
}

pub(super) fn studio(args: StudioArgs) -> u8 {
    let Some(runtime) = super::async_runtime() else {
        return EXIT_FAILED;
    };
    runtime.block_on(async {
        let studio = match Studio::bind(&args.dir, args.listen).await {
            Ok(studio) => studio,
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_BAD_INPUT;
            }
        };
        println!("Weft Studio: open {}", studio.url());
        tokio::select! {
            served = studio.run() => match served {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("error: {err}");
                    EXIT_FAILED
                }
            },
            _ = tokio::signal::ctrl_c() => super::EXIT_INTERRUPTED,
        }
    })
}
