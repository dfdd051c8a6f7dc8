//! A counting global allocator: the heap bytes each thread holds, so that an expression
//! evaluation can be stopped once what it built passes its memory limit.
//!
//! Rhai's own limits count elements, not bytes, and a few operations can build gigabytes from a
//! handful of elements (`[0, 1, …, 22].reduce(|a, x| #{a: a, b: a}, #{})`); only the allocator
//! sees what was really allocated. A program installs [`Counting`] as its global allocator (the
//! `weft` binary does, around mimalloc); without it [`thread_heap_bytes`] is `None` and the
//! expression engine enforces no memory limit.
//!
//! The count is per thread and needs no synchronisation: an evaluation runs on one thread from
//! start to end, and what it holds is the growth of that thread's count while it runs. Memory
//! freed on another thread than the one that allocated it counts against the freeing thread,
//! which can only make an evaluation look smaller than it is by what others gave back on its
//! thread meanwhile; the budget is a bound on what an evaluation builds, not an exact figure.

// The one module with unsafe code: implementing `GlobalAlloc` is unsafe by definition. Every
// call forwards to the wrapped allocator with the caller's own arguments, so the wrapper adds
// no obligation of its own; the bookkeeping is safe code on a thread-local cell.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. Const-initialised and without a
    /// destructor, so reading it never allocates and works while the thread shuts down.
    static HEAP: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with` fails only after the thread's locals are gone; such a late allocation is
    // simply not counted.
    let _ = HEAP.try_with(|heap| heap.set(heap.get().wrapping_add(delta)));
}

/// A global allocator that forwards to `A` and counts each thread's heap bytes.
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: Counting<std::alloc::System> = Counting::new(std::alloc::System);
/// ```
#[derive(Debug)]
pub struct Counting<A>(A);

impl<A> Counting<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self(inner)
    }
}

// `Layout` sizes are at most `isize::MAX`, so the casts below are exact.
#[allow(clippy::cast_possible_wrap)]
// SAFETY: every method forwards to `A`'s, which upholds `GlobalAlloc`'s contract, with the
// caller's arguments unchanged; the counting touches no memory the allocator hands out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees (a non-zero-sized layout).
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`.
        unsafe { self.0.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's guarantees, forwarded as they are.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// The heap bytes the calling thread holds (allocated minus freed since it started), or `None`
/// when [`Counting`] is not the global allocator.
pub fn thread_heap_bytes() -> Option<isize> {
    is_counting().then(|| HEAP.try_with(Cell::get).unwrap_or(0))
}

/// Whether [`Counting`] is the global allocator: an allocation moves the thread's count.
fn is_counting() -> bool {
    static COUNTING: OnceLock<bool> = OnceLock::new();
    *COUNTING.get_or_init(|| {
        let before = HEAP.try_with(Cell::get).unwrap_or(0);
        let probe = std::hint::black_box(vec![0u8; 64]);
        let after = HEAP.try_with(Cell::get).unwrap_or(0);
        drop(probe);
        after != before
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_this_thread_holds() {
        // The node kit's unit tests run with `Counting` installed (lib.rs).
        let before = thread_heap_bytes().unwrap();
        let block = std::hint::black_box(vec![1u8; 1 << 20]);
        let during = thread_heap_bytes().unwrap();
        assert!(during - before >= 1 << 20, "{before} → {during}");
        let mut block = block;
        block.reserve_exact(3 << 20);
        let grown = thread_heap_bytes().unwrap();
        assert!(grown - before >= 4 << 20, "{before} → {grown}");
        drop(block);
        assert!(thread_heap_bytes().unwrap() - before < 1 << 20);
        // Another thread's allocations are its own.
        let other = std::thread::spawn(|| {
            let start = thread_heap_bytes().unwrap();
            let held = std::hint::black_box(vec![0u8; 8 << 20]);
            let moved = thread_heap_bytes().unwrap() - start;
            drop(held);
            moved
        })
        .join()
        .unwrap();
        assert!(other >= 8 << 20);
        assert!(thread_heap_bytes().unwrap() - before < 1 << 20);
    }
}
