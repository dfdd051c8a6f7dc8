//! The `weft` runner.

fn main() -> std::process::ExitCode {
    weft::cli::main()
}
