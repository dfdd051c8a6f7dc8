//! What `weft validate` checks of the profiles a flow names, against its profiles file: that
//! each exists (an error at the field naming it, listing the file's profiles), that a node's
//! kind can use its type, and that its credentials are fenced by `hosts`.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use weft::auth::Profiles;
use weft::flow::Flow;
use weft_nodes::kind::strings_with_pointers_at;
use weft_nodes::{Diagnostic, clip};

/// The kind that signs in; only `oauth2` profiles have anything to sign in with.
const SIGNS_IN: &str = "authentication";

/// The profiles files read so far, by path: a folder of flows beside one file reads it once.
#[derive(Default)]
pub(super) struct ProfilesFiles(HashMap<PathBuf, Option<Result<Profiles, String>>>);

impl ProfilesFiles {
    /// The file at `path` (`None` when there is none), or why it does not load.
    fn get(&mut self, path: &Path) -> Option<&Result<Profiles, String>> {
        self.0
            .entry(path.to_owned())
            .or_insert_with(|| {
                path.exists().then(|| Profiles::load(path).map_err(|e| e.to_string()))
            })
            .as_ref()
    }
}

/// The diagnostics about the profiles `flow` (whose file's text is `text`) names, checked
/// against the profiles file at `path`.
pub(super) fn check(
    flow: &Flow,
    text: &str,
    path: &Path,
    files: &mut ProfilesFiles,
) -> Vec<Diagnostic> {
    let used = flow.profiles();
    if used.is_empty() {
        return Vec::new();
    }
    let Some(loaded) = files.get(path) else {
        return vec![Diagnostic::warning(
            "",
            format!(
                "the profile{} {} can't be checked: there is no profiles file at {} (pass --profiles FILE)",
                if used.len() == 1 { "" } else { "s" },
                clip::list(used.iter().map(|n| format!("`{}`", clip(n)))),
                path.display()
            ),
        )];
    };
    let profiles = match loaded {
        Ok(profiles) => profiles,
        Err(err) => return vec![Diagnostic::error("", err.clone())],
    };
    let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for (index, node) in flow.nodes().enumerate() {
        let fields = &json["nodes"][index];
        let base = format!("/nodes/{index}");
        for pattern in node.info.profiles {
            for (pointer, name) in strings_with_pointers_at(pattern, fields) {
                let pointer = format!("{base}{pointer}");
                let mut d = match profiles.type_of(name) {
                    None => Diagnostic::error(pointer, unknown(name, profiles)),
                    Some(ty) if node.kind == SIGNS_IN && ty != "oauth2" => Diagnostic::warning(
                        pointer,
                        format!(
                            "profile `{}` is of type `{ty}`, which has nothing to sign in with: \
                             this node always takes `ok` (an `authentication` node is for \
                             `oauth2` profiles; an `http_request`'s `auth` sends the credentials)",
                            clip(name)
                        ),
                    ),
                    Some(_) => continue,
                };
                d.node = Some(clip(&node.id).to_string());
                out.push(d);
            }
        }
    }
    let open: std::collections::HashSet<&str> = profiles.without_hosts().into_iter().collect();
    out.extend(used.iter().filter(|name| open.contains(name.as_str())).map(|name| {
        Diagnostic::warning(
            "",
            format!(
                "profile `{}` ({}) has no `hosts`: its credentials may be sent to any host a URL names",
                clip(name),
                path.display()
            ),
        )
    }));
    out
}

fn unknown(name: &str, profiles: &Profiles) -> String {
    let names: Vec<String> = profiles.names().map(|n| format!("`{}`", clip(n))).collect();
    let choices = if names.is_empty() {
        "it has none".to_owned()
    } else {
        format!("it has {}", clip::list(&names))
    };
    format!(
        "no profile named `{}` in the profiles file {}: {choices}",
        clip(name),
        profiles.file().display()
    )
}
