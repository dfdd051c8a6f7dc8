//! `weft login`.

use clap::Args;
use std::path::PathBuf;

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct LoginArgs {
    /// The profile to sign in with.
    profile: String,
    /// The profiles file (default: `profiles.json` in the working directory).
    #[arg(long, value_name = "FILE")]
    profiles: Option<PathBuf>,
    /// Where the sign-in is kept (default: the platform's data directory).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

pub(super) fn login(args: LoginArgs) -> u8 {
    let mut engine = weft::Engine::builder();
    if let Some(dir) = &args.state_dir {
        engine = engine.state_dir(dir);
    }
    // No flow to stand beside: the profiles file of the working directory, as for a flow on
    // stdin.
    let profiles = weft::engine::profiles_path(std::path::Path::new("-"), args.profiles.as_deref());
    let manager = match engine
        .build()
        .and_then(|engine| engine.credentials(&profiles, std::slice::from_ref(&args.profile)))
    {
        Ok(Some(manager)) => manager,
        Ok(None) => return EXIT_BAD_INPUT,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    let Some(profile) = manager.profile(&args.profile).cloned() else {
        return EXIT_BAD_INPUT;
    };
    if !profile.is_user() {
        eprintln!(
            "error: profile `{}` signs in by itself: `weft login` is for user profiles",
            profile.name
        );
        return EXIT_BAD_INPUT;
    }
    let Some(runtime) = super::async_runtime() else {
        return EXIT_FAILED;
    };
    let result = runtime
        .block_on(weft::auth::login::login(&manager, &profile, |message| eprintln!("{message}")));
    match result {
        Ok(()) => {
            eprintln!("Signed in with profile `{}`.", profile.name);
            0
        }
        Err(err) => {
            eprintln!("error: {}", err.message);
            EXIT_FAILED
        }
    }
}
