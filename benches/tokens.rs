//! The token manager under 1 000 concurrent callers with an empty cache: they share one token
//! request to the simulator's token endpoint.
//!
//! `cargo bench --bench tokens`

#![allow(clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use weft::auth::state::StateDir;
use weft::auth::{Profiles, TokenManager};
use weft::nodes::Credentials;
use weft_sim::{APP_CLIENT_SECRET, SimConfig, Simulator};

/// The allocator the `weft` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

const CALLERS: usize = 1_000;

#[divan::bench(sample_count = 20)]
fn thousand_callers_one_request(bencher: divan::Bencher) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sim = rt.block_on(Simulator::start(SimConfig::default())).expect("simulator");
    let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/profiles.sim.json"))
        .expect("profiles");
    let profiles = Profiles::parse(&text, Path::new("profiles.sim.json")).expect("parse");
    let base = sim.base_url();
    let lookup = |name: &str| match name {
        "WEFT_SIM_URL" => Some(base.clone()),
        "WEFT_SIM_SECRET" => Some(APP_CLIENT_SECRET.to_owned()),
        _ => None,
    };
    let profile = profiles.resolve("graph-app", &lookup).expect("resolve");
    let state = tempfile::tempdir().expect("tempdir");
    bencher
        .counter(divan::counter::ItemsCount::new(CALLERS))
        .with_inputs(|| {
            Arc::new(
                TokenManager::new(vec![profile.clone()], StateDir::new(state.path()))
                    .expect("manager"),
            )
        })
        .bench_local_values(|manager| {
            rt.block_on(async {
                let calls: Vec<_> = (0..CALLERS)
                    .map(|_| {
                        let manager = Arc::clone(&manager);
                        tokio::spawn(async move { manager.sign_in("graph-app").await.map(|_| ()) })
                    })
                    .collect();
                for call in calls {
                    call.await.expect("joined").expect("signed in");
                }
            });
            assert_eq!(manager.token_requests(), 1);
        });
    drop(sim);
}
