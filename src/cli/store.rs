//! `--store`, as every command that keeps runs reads it.

use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use weft::auth::state::StateDir;
use weft::durable::Durable;
use weft::store::{self, Holder, Store, StoreUrl};

use super::EXIT_BAD_INPUT;

/// Where runs are kept.
#[derive(Debug, Clone, Args)]
pub(super) struct StoreArgs {
    /// Where runs are kept: `none`, or `sqlite:PATH` (default: `sqlite:<state dir>/weft.db`;
    /// `weft run` keeps a run only when this is given or its flow keeps state).
    #[arg(long, value_name = "URL", global = true)]
    pub store: Option<StoreUrl>,
    /// How long this process's hold on a run lasts without renewal (e.g. 10s): a run whose
    /// process died may be taken over once it passes.
    #[arg(long, value_name = "AGE", value_parser = store::parse_age, default_value = "10s", global = true)]
    pub lease: Duration,
}

/// The default store: `weft.db` in the state directory.
pub(super) fn default_url(state_dir: Option<&Path>) -> StoreUrl {
    let dir =
        state_dir.map_or_else(|| StateDir::default_location().root().to_owned(), PathBuf::from);
    StoreUrl::Sqlite(dir.join("weft.db"))
}

impl StoreArgs {
    /// The store's URL: the one given, else `default`.
    pub(super) fn url(&self, default: impl FnOnce() -> StoreUrl) -> StoreUrl {
        self.store.clone().unwrap_or_else(default)
    }

    /// Opens the store at `url`, reporting why it can't be (exit 2).
    pub(super) fn open(&self, url: &StoreUrl) -> Result<Option<Durable>, u8> {
        match store::open(url) {
            Ok(store) => Ok(store.map(|store: Arc<dyn Store>| Durable {
                store,
                holder: Holder::this_process(self.lease),
            })),
            Err(err) => {
                eprintln!("error: {err}");
                Err(EXIT_BAD_INPUT)
            }
        }
    }
}

/// What `weft runs` and `weft state` work with: the store (the one given, else the default in
/// `state_dir`; `none` is refused, there being nothing to read) and an async runtime.
pub(super) fn open_kept(
    args: &StoreArgs,
    state_dir: Option<&Path>,
) -> Result<(Durable, tokio::runtime::Runtime), u8> {
    let url = args.url(|| default_url(state_dir));
    let durable = match args.open(&url)? {
        Some(durable) => durable,
        None => {
            eprintln!("error: `--store none` keeps nothing: name a store (e.g. sqlite:runs.db)");
            return Err(EXIT_BAD_INPUT);
        }
    };
    let runtime = super::async_runtime().ok_or(super::EXIT_FAILED)?;
    Ok((durable, runtime))
}
