//! The `weft` runner.

/// mimalloc: flows build and drop many small maps (a JSON response becomes thousands of them),
/// where glibc's allocator spends much of its time consolidating free chunks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weft::cli::main()
}
