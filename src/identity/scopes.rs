//! What an API key may do.

use uuid::Uuid;

use crate::error::AppError;

/// Declares [`Scope`] from one list of variants and their stored names, so that a scope
/// cannot be added without a name or be missing from [`Scope::ALL`] (a scope left out of
/// that list would be dropped from stored keys without a word).
macro_rules! scopes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// What an API key may do (DESIGN §5). No scope reaches members, invitations,
        /// keys, sessions, the audit log or the organization's settings.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Scope {
            $($(#[$doc])* $variant,)+
        }

        impl Scope {
            /// Every scope, in declaration order (the stored order).
            pub const ALL: &'static [Scope] = &[$(Scope::$variant,)+];

            /// The scope's stored and documented name, e.g. `contacts:read`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Scope::$variant => $name,)+
                }
            }
        }
    };
}

scopes! {
    ContactsRead => "contacts:read",
    ContactsReadPii => "contacts:read_pii",
    ContactsWrite => "contacts:write",
    ConversationsRead => "conversations:read",
    ConversationsWrite => "conversations:write",
    EventsWrite => "events:write",
    AnalyticsRead => "analytics:read",
    ChannelsRead => "channels:read",
}

// A set of scopes is a bit set of this width.
const _: () = assert!(Scope::ALL.len() <= u16::BITS as usize);

impl Scope {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u16);

impl Scopes {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }

    /// As stored: the names separated by spaces, in a fixed order.
    pub fn to_stored(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Reads the stored form; names this version does not know are dropped (they grant
    /// nothing).
    pub fn from_stored(stored: &str) -> Scopes {
        stored
            .split_whitespace()
            .filter_map(|name| Scope::ALL.iter().copied().find(|s| s.as_str() == name))
            .collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

/// A partner's server, by a valid API key.
#[derive(Clone, Debug)]
pub struct KeyPrincipal {
    pub key_id: Uuid,
    pub organization_id: Uuid,
    pub scopes: Scopes,
}

/// `FORBIDDEN` naming the scope an API key lacks.
pub fn missing_scope(scope: Scope) -> AppError {
    AppError::forbidden(format!("this API key lacks the `{}` scope", scope.as_str()))
}
