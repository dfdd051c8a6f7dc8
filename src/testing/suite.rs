//! Test files as `weft test` runs them: finding them, checking them against their flow, running
//! their cases, and reporting (text lines or JUnit XML).

use super::file::{self, Case, FileError, Malformed, TestFile};
use super::run::{Failure, Harness, HarnessError};
use crate::flow::Flow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The verdict of one case.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// Why it failed; empty when it passed.
    pub failures: Vec<Failure>,
    /// How long it took.
    pub duration: Duration,
}

impl CaseReport {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of one test file: its cases' verdicts, or why the file is malformed.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The test file.
    pub path: PathBuf,
    /// The cases run (those the filter kept), or the problem with the file.
    pub outcome: Result<Vec<CaseReport>, Malformed>,
    /// How long the file took.
    pub duration: Duration,
}

/// Finds the test files under `paths`: files are taken as they are, directories are searched
/// recursively for `*.test.json` (skipping hidden directories and `target`), in name order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            let here = files_under(path, ".test.json")
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            found.extend(here);
        } else if path.is_file() {
            found.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    Ok(found)
}

/// The files under `dir` whose names end with `suffix`, searched recursively (skipping hidden
/// directories, `target` and `node_modules`), in name order.
pub fn files_under(dir: &Path, suffix: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    walk(dir, suffix, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, suffix, out)?;
            }
        } else if name.ends_with(suffix) {
            out.push(path);
        }
    }
    Ok(())
}

/// A test file checked against its flow, ready to run.
pub struct Prepared {
    /// The test file's path.
    pub path: PathBuf,
    /// Its contents.
    pub file: TestFile,
    /// The flow it tests.
    pub flow: Flow,
    /// The profiles file, resolved against the test file's folder.
    pub profiles: Option<PathBuf>,
    /// With a simulator and no `profiles`, the profiles file beside the flow, when the flow
    /// signs in and the file is there: the simulator's cases sign in for real from it.
    pub sim_profiles: Option<PathBuf>,
}

/// Reads a test file, loads its flow and checks every case against it: unknown nodes, bad
/// `now`, undeclared or mistyped parameters, contradictory fields. Any problem makes the whole
/// file malformed (nothing runs); every problem the checks find is reported, each located by
/// JSON pointer.
pub fn prepare(harness: &Harness, path: &Path) -> Result<Prepared, Malformed> {
    prepare_with(harness, path, &|path| std::fs::read(path).map_err(|e| e.to_string()))
}

/// [`prepare`], reading the test file and its flow with `read`, which says why it could not
/// (the studio reads those of its directory without following a link).
pub fn prepare_with(
    harness: &Harness,
    path: &Path,
    read: &dyn Fn(&Path) -> Result<Vec<u8>, String>,
) -> Result<Prepared, Malformed> {
    let bytes = read(path)
        .map_err(|e| FileError::new(path, "", format!("cannot read the test file: {e}")))?;
    let test = file::parse(&bytes, path)?;
    let at = |pointer: String, message: String| {
        let position = crate::flow::json::locate(&String::from_utf8_lossy(&bytes), &pointer);
        FileError { file: path.to_owned(), pointer, position, message }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let flow_path = base.join(&test.flow);
    if !flow_path.is_file() {
        return Err(at(
            "/flow".into(),
            format!("there is no flow file at {}", flow_path.display()),
        )
        .into());
    }
    let flow_bytes =
        read(&flow_path).map_err(|e| at("/flow".into(), format!("cannot read the flow: {e}")))?;
    let flow = harness
        .load_flow_bytes(&flow_bytes, &flow_path)
        .map_err(|e| at("/flow".into(), format!("{}: {e}", flow_path.display())))?;
    let mut problems = Vec::new();
    let profiles = test.profiles.as_ref().map(|name| base.join(name));
    if let Some(profiles) = profiles.as_ref().filter(|p| !p.is_file()) {
        problems.push(at(
            "/profiles".into(),
            format!("there is no profiles file at {}", profiles.display()),
        ));
    }
    for (i, case) in test.cases.iter().enumerate() {
        for (pointer, message) in check_case(&flow, case) {
            problems.push(at(format!("/cases/{i}{pointer}"), message));
        }
    }
    if !problems.is_empty() {
        return Err(Malformed(problems));
    }
    let sim_profiles =
        (harness.is_simulated() && profiles.is_none() && !flow.profiles().is_empty())
            .then(|| crate::engine::profiles_path(&flow_path, None))
            .filter(|beside| beside.is_file());
    Ok(Prepared { path: path.to_owned(), file: test, flow, profiles, sim_profiles })
}

/// What is wrong with `case`, as (pointer within the case, message) pairs.
fn check_case(flow: &Flow, case: &Case) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Some(node) = &case.node
        && flow.node(node).is_none()
    {
        let ids: Vec<&str> = flow.nodes().map(|n| n.id.as_str()).collect();
        problems.push((
            "/node".into(),
            format!(
                "there is no node `{}` in the flow (it has: {})",
                weft_nodes::clip(node),
                weft_nodes::clip::list(&ids)
            ),
        ));
    }
    if let Some(Err(e)) = case.given.now.as_deref().map(parse_now) {
        problems.push(("/given/now".to_owned(), e.to_string()));
    }
    let empty = serde_json::Map::new();
    let given = case.given.params.as_ref().unwrap_or(&empty);
    if let Err(e) = super::run::resolve_params(flow, given, case.node.is_none()) {
        let pointer = given
            .keys()
            .find(|k| e.to_string().contains(&format!("`{k}`")))
            .map_or("/given/params".to_owned(), |k| {
                format!("/given/params/{}", weft_nodes::kind::escape_token(k))
            });
        problems.push((pointer, e.to_string()));
    }
    if case.node.is_none() && case.expect.exit.is_some() {
        problems.push((
            "/expect/exit".into(),
            "`exit` applies to node cases (with `node`); a whole-flow case checks `status` and `result`"
                .into(),
        ));
    }
    for (j, canned) in case.http.iter().enumerate() {
        if canned.request.url.is_some() && canned.request.url_prefix.is_some() {
            problems.push((
                format!("/http/{j}/request/url_prefix"),
                "give `url` (exact) or `url_prefix`, not both".into(),
            ));
        }
        if canned.response.json.is_some() && canned.response.body.is_some() {
            problems.push((
                format!("/http/{j}/response/body"),
                "give `json` or `body`, not both".into(),
            ));
        }
        if !(100..=599).contains(&canned.response.status) {
            problems.push((
                format!("/http/{j}/response/status"),
                format!("{} is not an HTTP status", canned.response.status),
            ));
        }
        if canned.times == Some(0) {
            problems.push((format!("/http/{j}/times"), "`times` must be at least 1".into()));
        }
    }
    problems
}

/// Parses `given.now`.
pub fn parse_now(now: &str) -> Result<chrono::DateTime<chrono::Utc>, HarnessError> {
    chrono::DateTime::parse_from_rfc3339(now)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| HarnessError::Now(now.to_owned()))
}

/// Runs one case of a prepared file.
pub async fn run_case(harness: &Harness, prepared: &Prepared, case: &Case) -> CaseReport {
    let started = Instant::now();
    let mut test = match &case.node {
        Some(node) => harness.node(&prepared.flow, node),
        None => harness.flow(&prepared.flow),
    };
    if let Some(vars) = case.given.start_vars() {
        test = test.vars(serde_json::Value::Object(vars));
    }
    for (flow, child) in &case.children {
        test = test.child(flow, child.outcome());
    }
    if let Some(params) = &case.given.params {
        test = test.params(serde_json::Value::Object(params.clone()));
    }
    if let Some(now) = &case.given.now
        && let Ok(now) = parse_now(now)
    {
        test = test.now(now);
    }
    // Against the simulator (a whole-flow case with nothing canned), the flow's profiles sign
    // in for real, from the file it would run with: the test file's, else the one beside it.
    let simulated = case.http.is_empty() && case.node.is_none();
    let sim_profiles = prepared.sim_profiles.as_ref().filter(|_| simulated);
    if let Some(profiles) = prepared.profiles.as_ref().or(sim_profiles) {
        test = test.profiles(profiles.clone());
    }
    test = test.http(case.http.iter().cloned());
    let failures = match test.run().await {
        Ok(run) => run.check(&case.expect),
        Err(err) => vec![Failure(format!("the case could not run: {err}"))],
    };
    CaseReport { name: case.name.clone(), failures, duration: started.elapsed() }
}

/// Runs the cases of the file at `path` whose name contains `filter` (all without one).
pub async fn run_file(harness: &Harness, path: &Path, filter: Option<&str>) -> FileReport {
    let started = Instant::now();
    let outcome = match prepare(harness, path) {
        Ok(prepared) => {
            let mut reports = Vec::new();
            for case in &prepared.file.cases {
                if filter.is_some_and(|f| !case.name.contains(f)) {
                    continue;
                }
                reports.push(run_case(harness, &prepared, case).await);
            }
            Ok(reports)
        }
        Err(err) => Err(err),
    };
    FileReport { path: path.to_owned(), outcome, duration: started.elapsed() }
}

/// Passed and failed case counts over `reports`.
pub fn totals(reports: &[FileReport]) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    for report in reports {
        for case in report.outcome.iter().flatten() {
            if case.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    (passed, failed)
}

/// Escapes text for XML content and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 can't hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The reports as a JUnit XML document: one `<testsuite>` per file (named by its path), one
/// `<testcase>` per case with a `<failure>` holding the diff; a malformed file is a suite with
/// one `<error>`.
pub fn junit(reports: &[FileReport]) -> String {
    let (passed, failed) = totals(reports);
    let errors = reports.iter().filter(|r| r.outcome.is_err()).count();
    let total: f64 = reports.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"weft test\" tests=\"{}\" failures=\"{failed}\" errors=\"{errors}\" time=\"{total:.3}\">\n",
        passed + failed + errors
    ));
    for report in reports {
        let name = xml(&report.path.display().to_string());
        let time = report.duration.as_secs_f64();
        match &report.outcome {
            Ok(cases) => {
                let failures = cases.iter().filter(|c| !c.passed()).count();
                out.push_str(&format!(
                    "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">\n",
                    cases.len()
                ));
                for case in cases {
                    let case_time = case.duration.as_secs_f64();
                    out.push_str(&format!(
                        "    <testcase name=\"{}\" classname=\"{name}\" time=\"{case_time:.3}\"",
                        xml(&case.name)
                    ));
                    if case.passed() {
                        out.push_str("/>\n");
                        continue;
                    }
                    let text: Vec<String> = case.failures.iter().map(|f| f.0.clone()).collect();
                    let first = text.first().and_then(|t| t.lines().next()).unwrap_or_default();
                    out.push_str(&format!(
                        ">\n      <failure message=\"{}\" type=\"assertion\">{}</failure>\n    </testcase>\n",
                        xml(first),
                        xml(&text.join("\n"))
                    ));
                }
            }
            Err(malformed) => {
                out.push_str(&format!(
                    "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"{time:.3}\">\n"
                ));
                let first = malformed.first().map_or("", |e| e.message.as_str());
                out.push_str(&format!(
                    "    <testcase name=\"(test file)\" classname=\"{name}\" time=\"0.000\">\n      <error message=\"{}\" type=\"malformed\">{}</error>\n    </testcase>\n",
                    xml(first),
                    xml(&malformed.to_string())
                ));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;\\u{1}");
    }
}
