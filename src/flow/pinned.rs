//! What a stored run pins: a flow's exact text with the exact texts of every flow it calls, so
//! that a run and its resumption — children included — use the versions it started with, what
//! ever happened to the files since.

use std::collections::BTreeMap;

/// A flow's text and, by the path each `call` node names, the flows it calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pinned {
    /// The flow file's text.
    pub text: String,
    /// The flows its `call` nodes name, by that name.
    pub calls: BTreeMap<String, Pinned>,
}

impl Pinned {
    /// The content hash the tree is kept by: that of the text alone for a flow that calls
    /// nothing (so a flow's hash is the SHA-256 of its file), else of the text and every
    /// call's name and hash.
    pub fn hash(&self) -> String {
        let calls: Vec<(&str, String)> =
            self.calls.iter().map(|(name, child)| (name.as_str(), child.hash())).collect();
        self.hash_with(&calls)
    }

    /// [`Pinned::hash`], given the hashes of the flows it calls by name, in name order (a
    /// store that has just hashed them need not hash them again).
    pub fn hash_with(&self, calls: &[(&str, String)]) -> String {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.text.as_bytes());
        for (name, hash) in calls {
            // NUL can't occur in a name or a hex hash: the parts can't run into each other.
            hasher.update(b"\0");
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            hasher.update(hash.as_bytes());
        }
        format!("{:x}", hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_that_calls_nothing_is_known_by_its_texts_hash_and_a_child_changes_its_parents() {
        let leaf = Pinned { text: "{}".into(), calls: BTreeMap::new() };
        use sha2::Digest;
        assert_eq!(leaf.hash(), format!("{:x}", sha2::Sha256::digest(b"{}")));
        let parent = |child: &str| Pinned {
            text: "{}".into(),
            calls: [("c.flow.json".to_owned(), Pinned { text: child.into(), ..Pinned::default() })]
                .into(),
        };
        assert_ne!(parent("a").hash(), leaf.hash());
        assert_ne!(parent("a").hash(), parent("b").hash());
        assert_eq!(parent("a").hash(), parent("a").hash());
    }
}
