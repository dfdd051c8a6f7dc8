//! Authorization profiles and tokens: the profiles file (`weft.profiles/1`), the OAuth 2.0
//! grants, the token manager shared by every run, and the refresh tokens kept on disk.

pub mod assertion;
pub mod grants;
pub mod hosts;
pub mod login;
pub mod profiles;
pub mod state;
pub mod tokens;

pub use profiles::{Profile, ProfileError, ProfileKind, Profiles, ProfilesFile};
pub use tokens::TokenManager;
