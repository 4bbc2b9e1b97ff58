//! The process-wide services resolvers reach through `ContextExt::services`.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::api_keys::ApiKeys;
use crate::auth::secrets::MasterKey;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::TokenService;
use crate::mail::Mailer;
use crate::passwords::PasswordHasherPool;

/// Services resolvers need beyond the request's own context.
pub struct Services {
    pub tokens: TokenService,
    pub passwords: PasswordHasherPool,
    pub refresh_lifetime: Duration,
    pub remember_me_lifetime: Duration,
    pub mailer: Mailer,
    pub throttle: Throttle,
    /// `signUp` mails a verification link instead of signing in (see `sessions`).
    pub require_email_verification: bool,
    /// Base of the links in emails (the admin app).
    pub app_url: String,
    pub default_seat_limit: i32,
    pub api_keys: Arc<ApiKeys>,
    /// How long a rotated key's previous secret keeps working by default.
    pub rotation_grace: Duration,
    /// Seals channel credentials (`channels::credentials`).
    pub master_key: MasterKey,
    /// What the AI agent follows where neither its channel nor its organization has
    /// instructions.
    pub default_agent_instructions: String,
}

impl Services {
    /// How long a session may go without refreshing.
    /// A link into the admin app carrying a one-time token.
    pub fn app_link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.app_url.trim_end_matches('/')
        )
    }

    pub fn session_lifetime(&self, remember_me: bool) -> Duration {
        if remember_me {
            self.remember_me_lifetime
        } else {
            self.refresh_lifetime
        }
    }
}
