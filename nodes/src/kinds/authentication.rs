//! `authentication`: signs in with an authorization profile and records who is signed in.

use crate::kind::{CompileCx, KindDoc, KindInfo, NodeConfig, Writes};
use crate::node::{Node, NodeError, NodeFuture, Outcome, RunCx};
use crate::vars::VarPath;
use rhai::{Array, Dynamic, Map};
use schemars::JsonSchema;
use serde::Deserialize;

/// The default of `into`.
pub const DEFAULT_INTO: &str = "auth";

/// Fields of an `authentication` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// The authorization profile to sign in with: a name from the profiles file
    /// (`profiles.json` beside the flow, or `--profiles`).
    pub profile: String,
    /// The variable that receives who signed in, `{ profile, token_type, expires_at, scopes }`
    /// (never the token).
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_INTO))]
    pub into: Option<String>,
}

/// A built `authentication` node.
pub struct Authentication {
    /// The profile's name.
    pub profile: String,
    /// The variable it writes.
    pub into: VarPath,
}

impl NodeConfig for AuthenticationConfig {
    const KIND: &'static str = "authentication";
    const DESCRIPTION: &'static str = "Signs in with an authorization profile";
    const INFO: &'static KindInfo = &KindInfo {
        exits: &["ok", "unauthenticated", "error"],
        glyph: "⇥",
        profiles: &["/profile"],
        ..KindInfo::DEFAULT
    };
    const DOC: &'static KindDoc = &KindDoc {
        exits: &[
            ("ok", "Signed in: a token was fetched, or a cached one is still valid."),
            (
                "unauthenticated",
                "The profile signs a user in (authorization code or device code) and there is \
                 no sign-in to use: sign in with `weft login`.",
            ),
            (
                "error",
                "Signing in failed (category `auth`): the token endpoint refused or could not \
                 be reached.",
            ),
        ],
        writes: &[Writes {
            at: "`into`",
            default: Some(DEFAULT_INTO),
            value: "`{ profile, token_type, expires_at, scopes }`: the profile's name, the \
                    token's type (`Bearer`), when it expires (an RFC 3339 time, or `()`) and the \
                    scopes granted. Never the token.",
        }],
        example: r#"{ "id": "sign_in", "type": "authentication", "profile": "graph-app" }"#,
    };

    fn build(self, cx: &mut CompileCx<'_>) -> Option<Box<dyn Node>> {
        if self.profile.trim().is_empty() {
            cx.error("/profile", "the profile name is empty");
            return None;
        }
        let into = cx.var_path("/into", self.into.as_deref().unwrap_or(DEFAULT_INTO))?;
        Some(Box::new(Authentication { profile: self.profile, into }))
    }
}

impl Node for Authentication {
    fn exits(&self) -> Vec<String> {
        vec!["ok".into(), "unauthenticated".into()]
    }

    fn profiles(&self) -> Vec<&str> {
        vec![&self.profile]
    }

    fn run<'a>(&'a self, cx: &'a mut RunCx<'_>) -> NodeFuture<'a> {
        Box::pin(async move {
            let signed_in =
                cx.services().credentials(&self.profile)?.sign_in(&self.profile).await?;
            let mut record = Map::new();
            record.insert("profile".into(), signed_in.profile.into());
            record.insert("token_type".into(), signed_in.token_type.into());
            record.insert(
                "expires_at".into(),
                signed_in.expires_at.map_or(Dynamic::UNIT, Dynamic::from),
            );
            let scopes: Array = signed_in.scopes.into_iter().map(Dynamic::from).collect();
            record.insert("scopes".into(), scopes.into());
            cx.write(&self.into, Dynamic::from_map(record))
                .map_err(|e| NodeError::write_failed("auth", &e))?;
            Ok(Outcome::OK)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft::testing::check_case;

    #[test]
    fn signs_in_with_the_stand_in_and_writes_no_token() {
        let flow = json!({ "format": "weft.flow/1", "start": "a", "nodes": [
            { "id": "a", "type": "authentication", "profile": "crm", "into": "session.crm" } ] });
        check_case(&flow, &json!({ "name": "stand-in", "node": "a",
            "given": { "now": "2026-03-01T12:00:00Z" },
            "expect": { "exit": "ok", "requests": [], "vars": { "session": { "crm": {
                "profile": "crm", "token_type": "Bearer", "expires_at": "2026-03-01T13:00:00Z", "scopes": [] } } } } }))
        .unwrap();
    }
}
