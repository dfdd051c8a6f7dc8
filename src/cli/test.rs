//! `weft test`: runs node test files (`weft.test/1`).
//!
//! Text output (the default) goes to stdout: a line per test file, a line per case (`✓ name` or
//! `✗ name`, followed by the indented differences of a failure), and the closing line
//! `N passed, N failed` (`, N files malformed` when any was). With `--format junit` the JUnit XML goes to stdout and the text to
//! stderr, or, with `--out FILE`, the XML goes to the file and the text stays on stdout.
//! With `--sim`, the whole-flow cases that have no canned HTTP run against the simulator.
//! Exit 0 when every case passed, 1 when any failed, 2 when a test file is malformed (or a
//! path does not exist).

use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use weft::testing::Harness;
use weft::testing::suite::{self, FileReport};

use super::{EXIT_BAD_INPUT, EXIT_FAILED};

#[derive(Debug, Args)]
pub(super) struct TestArgs {
    /// Test files, or folders searched recursively for `*.test.json` (default: `.`).
    paths: Vec<PathBuf>,
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// The report's format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Write the JUnit XML here instead of stdout (with `--format junit`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Run the whole-flow cases that have no canned HTTP against the built-in simulator of
    /// Entra ID and Microsoft Graph, signing in with its app in place of each `oauth2` profile.
    #[arg(long)]
    sim: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// Lines for people.
    Text,
    /// JUnit XML for CI systems.
    Junit,
}

pub(super) fn test(args: TestArgs) -> u8 {
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let files = match suite::discover(&paths) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    if files.is_empty() {
        eprintln!(
            "warning: no *.test.json files in {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    // The text report goes to stderr only when the XML takes stdout.
    let xml_on_stdout = args.format == ReportFormat::Junit && args.out.is_none();
    let mut text: Box<dyn Write> =
        if xml_on_stdout { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    let colour = if xml_on_stdout {
        super::colour::on_stderr()
    } else {
        super::colour::enabled(&std::io::stdout())
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return EXIT_FAILED;
        }
    };
    // Kept alive while the cases run.
    let sim = match super::sim::start_in_process(args.sim, &runtime) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let mut harness = Harness::new();
    if let Some(sim) = &sim {
        let http = match weft::http::ReqwestHttp::new() {
            Ok(http) => http,
            Err(err) => {
                eprintln!("error: cannot set up the HTTP client: {err}");
                return EXIT_FAILED;
            }
        };
        harness = harness.simulator(weft::simulated::SimTarget::of(sim), Arc::new(http));
    }
    let mut reports: Vec<FileReport> = Vec::new();
    for path in &files {
        let report = runtime.block_on(suite::run_file(&harness, path, args.filter.as_deref()));
        print_file(&mut *text, &report, colour);
        reports.push(report);
    }
    let (passed, failed) = suite::totals(&reports);
    let malformed = reports.iter().filter(|r| r.outcome.is_err()).count();
    // A malformed file ran nothing, but it is no success: the summary counts it.
    let _ = match malformed {
        0 => writeln!(text, "{passed} passed, {failed} failed"),
        1 => writeln!(text, "{passed} passed, {failed} failed, 1 file malformed"),
        n => writeln!(text, "{passed} passed, {failed} failed, {n} files malformed"),
    };
    let _ = text.flush();
    if args.format == ReportFormat::Junit {
        let xml = suite::junit(&reports);
        match &args.out {
            Some(path) => {
                if let Err(err) = std::fs::write(path, xml) {
                    eprintln!("error: cannot write {}: {err}", path.display());
                    return EXIT_FAILED;
                }
            }
            None => print!("{xml}"),
        }
    }
    if malformed > 0 {
        EXIT_BAD_INPUT
    } else if failed > 0 {
        EXIT_FAILED
    } else {
        0
    }
}

fn print_file(out: &mut dyn Write, report: &FileReport, colour: bool) {
    match &report.outcome {
        Ok(cases) if cases.is_empty() => {}
        Ok(cases) => {
            let _ = writeln!(out, "{}", report.path.display());
            for case in cases {
                let mark = if case.passed() {
                    super::colour::paint("✓", super::colour::Paint::Green, colour)
                } else {
                    super::colour::paint("✗", super::colour::Paint::Red, colour)
                };
                let _ = writeln!(out, "{mark} {}", case.name);
                for failure in &case.failures {
                    for line in failure.0.lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
        Err(malformed) => {
            let _ = out.flush();
            for problem in &malformed.0 {
                eprintln!("error: malformed test file {problem}");
            }
        }
    }
}
