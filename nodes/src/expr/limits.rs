//! The limits of one evaluation, which the engine sets in Rhai and the budget checks between
//! operations.

use std::time::Duration;

/// Limits on what an expression may compute.
///
/// They bound values the expression *builds*; the flow's own data (`params`, `vars`) is bounded
/// by the flow's limits, so a 100 000-item list in `vars` can be read, counted and indexed.
/// `0` in any field means "no limit" (as in Rhai); don't use it for untrusted flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Rhai operations per evaluation (each step of a loop, call, closure…).
    pub max_operations: u64,
    /// Nested function/closure calls.
    pub max_call_levels: usize,
    /// Nesting depth of the expression's syntax tree.
    pub max_expr_depth: usize,
    /// Bytes in one string (also the length of a rendered template).
    pub max_string_size: usize,
    /// Elements in one array (counting nested arrays).
    pub max_array_size: usize,
    /// Entries in one object map (counting nested maps).
    pub max_map_size: usize,
    /// Wall-clock time one evaluation may take (`None`: no limit). A safety net for work that
    /// grows faster than the operation count (Rhai copies arrays and re-measures values).
    pub max_duration: Option<Duration>,
    /// Heap bytes one evaluation may hold at once, counted over everything it builds (nested
    /// values too) by the counting allocator ([`crate::alloc`]); not enforced where that
    /// allocator is not installed. Checked between operations: one operation (a copy of a large
    /// map) may pass it before it is stopped.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 64 * 1024 * 1024,
            max_array_size: 10_000_000,
            max_map_size: 10_000_000,
            max_duration: Some(Duration::from_secs(10)),
            max_memory: 256 * 1024 * 1024,
        }
    }
}
