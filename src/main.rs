//! The `weft` runner.

/// mimalloc: flows build and drop many small maps (a JSON response becomes thousands of them),
/// where glibc's allocator spends much of its time consolidating free chunks. Counted per
/// thread, so that an expression's memory limit holds.
#[global_allocator]
static ALLOCATOR: weft_nodes::alloc::Counting<mimalloc::MiMalloc> =
    weft_nodes::alloc::Counting::new(mimalloc::MiMalloc);

// The command line is the binary's own: thin (parse, call the library, print, pick the exit
// code), and nothing in the library depends on it.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
