//! Outlook's limit on concurrent requests per app and mailbox (4): a request over it is answered
//! 429 at once, as Graph does, rather than queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::sync::lock;

/// Requests in flight, by app (client id) and mailbox (user id).
pub(crate) struct Mailboxes {
    limit: usize,
    in_flight: Arc<Mutex<HashMap<(String, String), usize>>>,
}

/// A request counted in flight until it is dropped.
pub(crate) struct InFlight {
    key: (String, String),
    in_flight: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl Mailboxes {
    /// At most `limit` requests in flight per app and mailbox; 0: no limit.
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, in_flight: Arc::default() }
    }

    /// Whether there is a limit to keep.
    pub(crate) fn limited(&self) -> bool {
        self.limit > 0
    }

    /// Counts a request of `app` for `mailbox` in flight, or `None` when it is over the limit.
    pub(crate) fn enter(&self, app: String, mailbox: String) -> Option<InFlight> {
        let key = (app, mailbox);
        let mut in_flight = lock(&self.in_flight);
        let count = in_flight.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(InFlight { key, in_flight: Arc::clone(&self.in_flight) })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.in_flight);
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_limit_per_app_and_mailbox() {
        let mailboxes = Mailboxes::new(2);
        let enter = |app: &str, mailbox: &str| mailboxes.enter(app.into(), mailbox.into());
        let first = enter("app", "adele").unwrap();
        let _second = enter("app", "adele").unwrap();
        assert!(enter("app", "adele").is_none());
        // Another mailbox, another app: counted apart.
        let _other = enter("app", "megan").unwrap();
        let _another_app = enter("other", "adele").unwrap();
        drop(first);
        assert!(enter("app", "adele").is_some());
    }
}
