//! What makes the command line feel native: shell completions, the manual page, and colour only
//! when a person watches (never escape codes in a pipe, `NO_COLOR` honoured).

use crate::util::{Weft, root};

/// Escape codes start with ESC.
const ESC: char = '\x1b';

#[test]
fn completions_and_the_manual_page_name_every_subcommand() {
    let out = Weft::new(&root(), ["completions", "bash"]).run();
    out.assert_code(0);
    for sub in ["run", "validate", "serve", "completions", "man"] {
        assert!(out.stdout.contains(sub), "bash completions without `{sub}`");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        Weft::new(&root(), ["completions", shell]).run().assert_code(0);
    }
    let out = Weft::new(&root(), ["man"]).run();
    out.assert_code(0);
    assert!(out.stdout.starts_with(".ie") && out.stdout.contains(".TH weft 1"), "{}", out.stdout);
    assert!(out.stdout.contains("validate"), "{}", out.stdout);
}

/// `RUST_LOG=debug` used to write ANSI codes into pipes.
#[test]
fn regression_logs_in_a_pipe_have_no_escape_codes() {
    let state = crate::util::Dir::new();
    let out = Weft::new(&root(), ["run", "flows/graph-calendar.flow.json", "--sim"])
        .args(["--param", "user=adele@weft.test", "--state-dir"])
        .arg(state.path())
        .env("RUST_LOG", "debug")
        .run();
    out.assert_code(0);
    assert!(out.stderr.contains("DEBUG"), "no logs: {}", out.stderr);
    assert!(!out.stderr.contains(ESC), "{:?}", out.stderr);
}

/// `weft test`'s marks and `weft validate`'s severities are in colour when asked for
/// (`CLICOLOR_FORCE`, as a terminal would), plain in a pipe and with `NO_COLOR`.
#[test]
fn colour_when_asked_plain_in_pipes_and_with_no_color() {
    let test = || Weft::new(&root(), ["test", "flows/countdown.test.json"]);
    let plain = test().run();
    plain.assert_code(0);
    assert!(plain.stdout.contains("✓") && !plain.stdout.contains(ESC), "{}", plain.stdout);
    let coloured = test().env("CLICOLOR_FORCE", "1").run();
    assert!(coloured.stdout.contains("\x1b[32m✓\x1b[0m"), "{:?}", coloured.stdout);
    let no_color = test().env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1").run();
    assert_eq!(no_color.stdout, plain.stdout);

    let dir = crate::util::Dir::new();
    dir.write("bad.flow.json", r#"{ "format": "weft.flow/1", "start": "x", "nodes": [] }"#);
    let out = Weft::new(dir.path(), ["validate", "bad.flow.json"]).env("CLICOLOR_FORCE", "1").run();
    out.assert_code(2);
    assert!(out.stderr.contains("\x1b[31merror\x1b[0m ["), "{:?}", out.stderr);
    let out = Weft::new(dir.path(), ["validate", "bad.flow.json"]).run();
    assert!(!out.stderr.contains(ESC), "{:?}", out.stderr);
}
