//! Weft's integration tests, one test binary (`cargo test --test integration`): each module is
//! one area, its tests named `module::test`, so `cargo test --test integration serve::` runs
//! one file's tests. One binary links the engine, axum, reqwest, rhai and tokio once instead of
//! once per file.
//!
//! Shared helpers live in `util/` (the `weft` binary run with a deadline, temporary fixture
//! directories, HTTP, the oidc-provider server and a headless browser); `weft validate`'s cases
//! are data in `cases/` (see `validate_cli`). The binary's global allocator is the counting one
//! the `weft` binary uses, declared by `fuzz/targets.rs` (included by `fuzz_corpus`), so that
//! expression memory limits hold in process as they do in the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod auth_oidc;
mod auth_sim;
mod calendar_e2e;
mod call_kind;
mod cli_native;
mod docs_examples;
mod durable_runs;
mod flow_state;
mod fuzz_corpus;
mod graph_sync;
mod harness;
mod http_node;
mod loader_props;
mod run_cli;
mod schemas;
mod secrets_canary;
mod serve;
mod serve_store;
mod sim;
mod sim_writes;
mod studio_api;
#[cfg(unix)]
mod studio_browser;
mod tidy;
mod validate_cli;
mod weft_test;
