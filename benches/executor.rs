//! Executor steps per second.
fn main() {}
