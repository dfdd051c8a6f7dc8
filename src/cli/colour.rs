//! Colour when a person watches: on a terminal, unless `NO_COLOR` is set (to anything but the
//! empty string) or `TERM` is `dumb`; `CLICOLOR_FORCE` asks for it even into a pipe. Plain text
//! otherwise, so pipes and files never get escape codes.

use std::io::IsTerminal;

/// A colour for a word.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Paint {
    /// Errors and failures.
    Red,
    /// Warnings.
    Yellow,
    /// Success.
    Green,
}

/// Whether text written to `stream` gets colour.
pub(crate) fn enabled(stream: &impl IsTerminal) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    set("CLICOLOR_FORCE") || interactive(stream)
}

/// Whether a person watches `stream`: a terminal, and not a dumb one.
pub(crate) fn interactive(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Whether stderr gets colour.
pub(crate) fn on_stderr() -> bool {
    enabled(&std::io::stderr())
}

/// `text` in `paint` when `on`.
pub(crate) fn paint(text: &str, paint: Paint, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match paint {
        Paint::Red => "31",
        Paint::Yellow => "33",
        Paint::Green => "32",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A located diagnostic line (`file:line:column: error [pointer] …`) with its severity in
/// colour when `on`.
pub(crate) fn diagnostic(line: &str, on: bool) -> String {
    // The first of the two words is the severity: the other may be in the message.
    let first = [(": error ", Paint::Red), (": warning ", Paint::Yellow)]
        .into_iter()
        .filter_map(|(word, colour)| line.find(word).map(|at| (at, word, colour)))
        .min_by_key(|(at, ..)| *at);
    let Some((at, word, colour)) = first else {
        return line.to_owned();
    };
    let (head, rest) = line.split_at(at + 2);
    let name = word.trim_start_matches(": ").trim_end();
    let tail = &rest[name.len()..];
    format!("{head}{}{tail}", paint(name, colour, on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paints_the_severity_only() {
        let line = "f.flow.json:2:3: error [/nodes/0] node `a`: a warning here";
        assert_eq!(diagnostic(line, false), line);
        assert_eq!(
            diagnostic(line, true),
            "f.flow.json:2:3: \x1b[31merror\x1b[0m [/nodes/0] node `a`: a warning here"
        );
    }
}
