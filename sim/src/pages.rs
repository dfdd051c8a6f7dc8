//! An answered page of a listing: what the page cache keeps, so that a repeated request is
//! answered from its text.

use axum::body::Bytes;

/// One answered page: its JSON text, the preferences applied, and how many items it holds.
#[derive(Clone)]
pub(crate) struct Page {
    pub(crate) text: Bytes,
    pub(crate) applied: Option<String>,
    pub(crate) served: usize,
}
