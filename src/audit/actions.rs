//! The audit log's vocabulary: every action a change records, named once.

use crate::tenant::AuditName;

/// Declares [`AuditAction`] from one list of variants and their stored names.
macro_rules! audit_actions {
    ($($variant:ident => $name:literal,)+) => {
        /// What an audit entry records; stored as its name (`member.role_updated`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum AuditAction {
            $($variant,)+
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)+
                }
            }
        }
    };
}

audit_actions! {
    OrganizationCreated => "organization.created",
    OrganizationUpdated => "organization.updated",
    OrganizationBillingUpdated => "organization.billing_updated",
    OrganizationAgentInstructionsUpdated => "organization.agent_instructions_updated",
    OrganizationOwnershipTransferred => "organization.ownership_transferred",
    MemberRoleUpdated => "member.role_updated",
    MemberRemoved => "member.removed",
    MemberLeft => "member.left",
    InvitationCreated => "invitation.created",
    InvitationResent => "invitation.resent",
    InvitationRevoked => "invitation.revoked",
    InvitationAccepted => "invitation.accepted",
    ApiKeyCreated => "api_key.created",
    ApiKeyRotated => "api_key.rotated",
    ApiKeyRevoked => "api_key.revoked",
    ChannelUpserted => "channel.upserted",
    ChannelDeleted => "channel.deleted",
    ChannelCredentialsSet => "channel.credentials_set",
    ChannelCredentialsCleared => "channel.credentials_cleared",
    ChannelIdentityClaimed => "channel_identity.claimed",
    ChannelIdentityReleased => "channel_identity.released",
    SessionLoggedOut => "session.logged_out",
    SessionRevoked => "session.revoked",
    SessionRevokedOthers => "session.revoked_others",
    UserPasswordChanged => "user.password_changed",
}

impl AuditName for AuditAction {
    fn as_str(self) -> &'static str {
        AuditAction::as_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn every_action_has_its_own_dotted_name() {
        let mut names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        for name in &names {
            let (thing, verb) = name.split_once('.').expect("`thing.verb`");
            assert!(!thing.is_empty() && !verb.is_empty(), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            AuditAction::ALL.len(),
            "two actions share a name"
        );
    }
}
