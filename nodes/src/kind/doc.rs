//! What a kind tells people that neither its fields' types nor its [`super::KindInfo`] can say:
//! when each of its exits is taken, what its nodes write into `vars`, and an example node. The
//! node reference ([`super::reference`]) reads it beside the kind's schema and info.

/// A kind's documentation for people, declared by its config ([`super::NodeConfig::DOC`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindDoc {
    /// When each exit is taken: by exit name (`ok`, `done`), or by the field pattern of
    /// [`super::KindInfo::exit_fields`] whose strings name exits (`/conditions/*/exit`).
    /// `error` and status exits are described for every kind alike.
    pub exits: &'static [(&'static str, &'static str)],
    /// What its nodes write into `vars`, place by place.
    pub writes: &'static [Writes],
    /// A node of the kind, as JSON text (with `id` and `type`), that compiles.
    pub example: &'static str,
}

/// One place a kind's nodes write into `vars`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Writes {
    /// Where, as Markdown: the field naming the variable (`` `into` ``), or how the place is
    /// found (``each key of `set` ``).
    pub at: &'static str,
    /// The variable written when that field is not set.
    pub default: Option<&'static str>,
    /// What the variable holds, and when it is written.
    pub value: &'static str,
}

impl KindDoc {
    /// A kind that documents nothing beyond its schema and info.
    pub const EMPTY: KindDoc = KindDoc { exits: &[], writes: &[], example: "" };

    /// When the exit (or exit field pattern) `name` is taken, when the kind says.
    pub fn exit(&self, name: &str) -> Option<&'static str> {
        self.exits.iter().find(|(exit, _)| *exit == name).map(|(_, when)| *when)
    }
}

impl Default for KindDoc {
    fn default() -> Self {
        Self::EMPTY
    }
}
