//! A node's failure, [`NodeError`]: what a node and the services it calls report, and what the
//! executor turns into `vars.error`.

use crate::vars::VarsError;
use std::borrow::Cow;
use std::fmt;

/// A node's failure: it takes its `error` exit (or `unauthenticated`), and the executor stores
/// `vars.error = { node, type, category, message, status?, code?, child? }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    /// The exit taken: `error`, or `unauthenticated` for a user sign-in that is missing.
    pub exit: &'static str,
    /// What kind of failure: `expression`, `auth`, `http`, `timeout`, `import`, …
    pub category: Cow<'static, str>,
    /// A message for people; never holds a secret.
    pub message: String,
    /// The HTTP status, when the failure came from a response.
    pub status: Option<u16>,
    /// The error code from an OAuth or Graph error body.
    pub code: Option<String>,
    /// A child run's own `vars.error`, when a flow it called failed (the `call` kind).
    pub child: Option<Box<serde_json::Value>>,
}

impl NodeError {
    /// A failure of the given category; the message is bounded
    /// ([`clip_message`](crate::clip::clip_message)), quote input in it with
    /// [`clip`](crate::clip::clip).
    pub fn new(category: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            exit: "error",
            category: category.into(),
            message: crate::clip::clip_message(message.into()),
            status: None,
            code: None,
            child: None,
        }
    }

    /// An expression that failed to evaluate, or gave the wrong type.
    pub fn expression(message: impl Into<String>) -> Self {
        Self::new("expression", message)
    }

    /// A write to `vars` that failed: category `limit` when it would have passed the size
    /// limit of the run's variables, `category` otherwise.
    pub fn write_failed(category: &'static str, err: &VarsError) -> Self {
        let category = match err {
            VarsError::TooLarge { .. } => "limit",
            _ => category,
        };
        Self::new(category, err.to_string())
    }

    /// Takes the `unauthenticated` exit instead of `error`.
    pub fn unauthenticated(mut self) -> Self {
        self.exit = "unauthenticated";
        self
    }

    /// Adds an HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a child run's own error.
    pub fn with_child(mut self, error: serde_json::Value) -> Self {
        self.child = Some(Box::new(error));
        self
    }

    /// Adds an error code (clipped: a server sent it).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(crate::clip::clip(&code.into()).to_string());
        self
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NodeError {}
