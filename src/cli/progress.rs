//! `weft run`'s progress on stderr, fed by the run's trace events: the node running, the
//! requests it makes (pages of a paged request), and retries with their waits, so a run held up
//! by a throttled server says so instead of sitting silent.
//!
//! On a terminal it is one line, redrawn in place (at most ten times a second, and at once for
//! a retry) and erased when the run ends; elsewhere (`--progress` with stderr piped) plain
//! lines. Events reach it through the run's scrubbing, URLs without their query: nothing secret
//! can show. It asks for no written values, so a run with progress costs what a run without.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
use weft::trace::{Event, TraceSink};

/// How often a terminal line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);
/// How often a node's start or a request is told at most as a plain line (a retry always is):
/// a loop of thousands of steps must not bury the rest.
const LINE_GAP: Duration = Duration::from_secs(1);

/// Whether `weft run` shows progress: `--progress` forces it, `--no-progress` turns it off,
/// otherwise it shows when stderr is a terminal.
pub(super) fn wanted(forced: bool, off: bool) -> Option<Progress> {
    let terminal = super::colour::interactive(&std::io::stderr());
    match (forced, off) {
        (_, true) => None,
        (true, false) => Some(Progress::new(terminal)),
        (false, false) => terminal.then(|| Progress::new(true)),
    }
}

/// The progress display: a [`TraceSink`] writing to stderr.
pub(super) struct Progress {
    live: bool,
    width: usize,
    state: Mutex<State>,
}

struct State {
    started: Instant,
    /// The node running and its step.
    node: String,
    step: u64,
    /// Successful responses of the node in this step: the pages of a paged request.
    pages: u32,
    /// When something was last written, and whether a live line is on screen.
    drawn: Option<Instant>,
    on_screen: bool,
}

impl Progress {
    fn new(live: bool) -> Self {
        // A live line must never wrap, or the next redraw starts on the wrong line.
        let width = terminal_size::terminal_size_of(std::io::stderr())
            .map_or(80, |(terminal_size::Width(w), _)| usize::from(w))
            .max(20);
        Self {
            live,
            width,
            state: Mutex::new(State {
                started: Instant::now(),
                node: String::new(),
                step: 0,
                pages: 0,
                drawn: None,
                on_screen: false,
            }),
        }
    }

    /// Shows `head`, `url` and `tail` (`url` may be empty): redrawn in place on a terminal, the
    /// URL shortened in its middle to fit the width; or as a line. Unless `urgent`, only when
    /// the last was [`REDRAW`] (terminal) or [`LINE_GAP`] (lines) ago.
    fn show(&self, state: &mut State, head: &str, url: &str, tail: &str, urgent: bool) {
        let now = Instant::now();
        let gap = if self.live { REDRAW } else { LINE_GAP };
        if !urgent && state.drawn.is_some_and(|at| now.duration_since(at) < gap) {
            return;
        }
        state.drawn = Some(now);
        let head = format!("[{:6.1}s] {head}", state.started.elapsed().as_secs_f64());
        let mut err = std::io::stderr().lock();
        // Progress that can't be written must not fail the run.
        let _ = if self.live {
            state.on_screen = true;
            let line = fit(&head, url, tail, self.width.saturating_sub(1));
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "weft: {head}{url}{tail}")
        };
        let _ = err.flush();
    }

    /// Erases the live line, so that what follows starts on a clean line.
    fn erase(&self, state: &mut State) {
        if self.live && state.on_screen {
            state.on_screen = false;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl TraceSink for Progress {
    fn record(&self, _run: &str, event: Event) {
        let Ok(mut state) = self.state.lock() else { return };
        match event {
            Event::NodeStarted { node, kind, step } => {
                state.pages = 0;
                let head = format!("step {step}: {node} ({kind})");
                (state.node, state.step) = (node, step);
                self.show(&mut state, &head, "", "", false);
            }
            Event::Http { method, url, status, attempt, ms, retry_in_ms, .. } => {
                // The query can be long and is of no help here.
                let url = url.split(['?', '#']).next().unwrap_or_default();
                let head = format!("step {}: {} {method} ", state.step, state.node);
                let answer = status.map_or("no answer".to_owned(), |s| s.to_string());
                let mut tail = format!(" → {answer} in {ms} ms");
                if attempt > 1 {
                    tail.push_str(&format!(", attempt {attempt}"));
                }
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    state.pages += 1;
                    if state.pages > 1 {
                        tail.push_str(&format!(", page {}", state.pages));
                    }
                }
                if let Some(wait) = retry_in_ms {
                    let secs = Duration::from_millis(wait).as_secs_f64();
                    tail.push_str(&format!("; retrying in {secs:.1} s"));
                }
                self.show(&mut state, &head, url, &tail, retry_in_ms.is_some());
            }
            Event::RunFinished { status, steps, .. } => {
                self.erase(&mut state);
                if !self.live {
                    let head = format!("run {status} after {steps} steps");
                    self.show(&mut state, &head, "", "", true);
                }
            }
            Event::RunStarted { .. } | Event::NodeFinished { .. } => {}
        }
    }

    fn records_values(&self) -> bool {
        false
    }
}

/// `head`, `url` and `tail` in at most `width` columns: the URL loses its middle first (`…`),
/// then the line its end.
fn fit(head: &str, url: &str, tail: &str, width: usize) -> String {
    let (fixed, url_width) = (head.width() + tail.width(), url.width());
    let url = if fixed + url_width <= width || url_width == 0 {
        url.to_owned()
    } else {
        let room = width.saturating_sub(fixed + 1);
        let start = take_columns(url.chars(), room - room / 2);
        let end: String = take_columns(url.chars().rev(), room / 2).chars().rev().collect();
        format!("{start}…{end}")
    };
    take_columns(format!("{head}{url}{tail}").chars(), width)
}

/// The leading characters of `chars` that fit in `width` columns.
fn take_columns(chars: impl Iterator<Item = char>, width: usize) -> String {
    let mut used = 0;
    chars
        .take_while(|c| {
            used += c.width().unwrap_or(0);
            used <= width
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_live_line_fits_the_terminal_shortening_the_url_first() {
        let head = "[   1.0s] step 1: get GET ";
        let url = "https://graph.example/v1.0/users/adele@weft.test/calendarView";
        let tail = " → 429 in 3 ms; retrying in 2.0 s";
        assert_eq!(fit(head, url, tail, 200), format!("{head}{url}{tail}"));
        let line = fit(head, url, tail, 100);
        assert_eq!(line.chars().count(), 100, "{line}");
        assert!(line.starts_with(&format!("{head}https://graph")), "{line}");
        assert!(line.ends_with("calendarView → 429 in 3 ms; retrying in 2.0 s"), "{line}");
        assert_eq!(fit(head, url, tail, 30).chars().count(), 30);
    }
}
