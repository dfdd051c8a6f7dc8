//! The web app, embedded in the binary: the page, its style sheet and its ES modules (plain
//! JavaScript, no build step), each answered with its own type and never cached, so that a
//! new build is never mixed with an old one. The page's Content-Security-Policy lets it load
//! and call only its own origin: no inline script or style, no other site, no framing.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's policy: scripts, styles, images and calls (`fetch`, `EventSource`) from the
/// studio itself, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// `/assets/NAME`: its type and text. The page loads `main.js`, which imports the others.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/assets/style.css", "text/css; charset=utf-8", include_str!("assets/style.css")),
    ("/assets/main.js", JAVASCRIPT, include_str!("assets/main.js")),
    ("/assets/api.js", JAVASCRIPT, include_str!("assets/api.js")),
    ("/assets/dom.js", JAVASCRIPT, include_str!("assets/dom.js")),
    ("/assets/kinds.js", JAVASCRIPT, include_str!("assets/kinds.js")),
    ("/assets/document.js", JAVASCRIPT, include_str!("assets/document.js")),
    ("/assets/canvas.js", JAVASCRIPT, include_str!("assets/canvas.js")),
    ("/assets/form.js", JAVASCRIPT, include_str!("assets/form.js")),
    ("/assets/panels.js", JAVASCRIPT, include_str!("assets/panels.js")),
    ("/assets/run.js", JAVASCRIPT, include_str!("assets/run.js")),
    ("/assets/mapping.js", JAVASCRIPT, include_str!("assets/mapping.js")),
    ("/assets/history.js", JAVASCRIPT, include_str!("assets/history.js")),
    ("/assets/layout.js", JAVASCRIPT, include_str!("assets/layout.js")),
    ("/assets/routes.js", JAVASCRIPT, include_str!("assets/routes.js")),
    ("/assets/vendor/dagre.esm.js", JAVASCRIPT, include_str!("assets/vendor/dagre.esm.js")),
    (
        "/assets/vendor/dagre.LICENSE",
        "text/plain; charset=utf-8",
        include_str!("assets/vendor/dagre.LICENSE"),
    ),
];

const INDEX_HTML: &str = include_str!("assets/index.html");

/// The routes of the page (`/`) and of each asset.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/", get(page));
    for &(path, content_type, body) in ASSETS {
        router = router.route(path, get(move || async move { asset(content_type, body) }));
    }
    router
}

/// The page, with its Content-Security-Policy.
async fn page() -> Response {
    let policy = [(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)];
    (policy, asset("text/html; charset=utf-8", INDEX_HTML)).into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module a served script imports, and every file the page names, is served: a
    /// module added to `assets/` but not to [`ASSETS`] would leave the page blank.
    #[test]
    fn every_module_the_page_loads_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|(path, ..)| *path).collect();
        let mut wanted = vec![];
        for (_, _, text) in ASSETS.iter().filter(|(_, ty, _)| *ty == JAVASCRIPT) {
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let from = line.rsplit_once("from '").map(|(_, rest)| rest.trim_end_matches("';"));
                let module = from.and_then(|m| m.strip_prefix("./"));
                wanted.push(format!("/assets/{}", module.unwrap_or(line)));
            }
        }
        for attribute in ["src=\"", "href=\""] {
            for piece in INDEX_HTML.split(attribute).skip(1) {
                wanted.push(piece.split('"').next().unwrap_or(piece).to_owned());
            }
        }
        assert!(wanted.iter().any(|w| w == "/assets/main.js"), "{wanted:?}");
        for path in &wanted {
            assert!(served.contains(&path.as_str()), "{path} is loaded but not served");
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/studio/assets");
        let vendored = std::fs::read_dir(dir.join("vendor"))
            .unwrap()
            .map(|e| format!("vendor/{}", e.unwrap().file_name().to_string_lossy()));
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "vendor")
            .chain(vendored);
        for name in files {
            let path = format!("/assets/{name}");
            assert!(
                name == "index.html" || served.contains(&path.as_str()),
                "{name} is not served"
            );
        }
    }

    /// The page carries its policy, and holds nothing the policy would block: no inline
    /// script, style or event handler.
    #[tokio::test]
    async fn the_page_loads_only_from_its_own_origin() {
        let response = page().await;
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'; script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        let html = INDEX_HTML.to_ascii_lowercase();
        assert!(!html.contains("style=") && !html.contains("<style"), "inline style");
        let handler = html.split(" on").skip(1).find(|rest| {
            let name = rest.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(
            handler.is_none(),
            "inline event handler: on{:?}",
            handler.map(|h| h.chars().take(20).collect::<String>())
        );
        for script in html.split("<script").skip(1) {
            assert!(script.split('>').next().unwrap_or("").contains(" src="), "inline script");
        }
    }
}
