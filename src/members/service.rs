//! The rules of membership.

use async_graphql::ID;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::{Member, MemberFilter};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, Total, page, page_request};
use crate::input::parse_id;
use crate::policy::{self, Permission as P};
use crate::services::Services;
use crate::tenant::{RequestContext, TenantDb};
use entity::{Role, contact, conversation, membership};

/// Where a page of members continues: join time, then user id.
pub(crate) struct MemberCursor(DateTime<Utc>, Uuid);

impl CursorKey for MemberCursor {
    fn encode(&self) -> String {
        format!("m1:{}:{}", self.1, self.0.to_rfc3339())
    }

    fn decode(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix("m1:")?;
        let (id, time) = rest.split_once(':')?;
        Some(MemberCursor(
            DateTime::parse_from_rfc3339(time).ok()?.with_timezone(&Utc),
            Uuid::parse_str(id).ok()?,
        ))
    }
}

pub async fn list(
    db: &TenantDb,
    first: Option<i32>,
    after: Option<String>,
    filter: MemberFilter,
) -> AppResult<Page<Member, MemberCursor>> {
    let request = page_request::<MemberCursor>(first, after)?;
    let mut select = db.find::<membership::Entity>();
    if let Some(role) = filter.role {
        select = select.filter(membership::Column::Role.eq(Role::from(role)));
    }
    let total = Total::of(db, select.clone());
    if let Some(MemberCursor(joined, user)) = &request.after {
        select = select.filter(
            Condition::any()
                .add(Expr::col(membership::Column::CreatedAt).gt(*joined))
                .add(
                    Condition::all()
                        .add(membership::Column::CreatedAt.eq(*joined))
                        .add(membership::Column::UserId.gt(*user)),
                ),
        );
    }
    let rows = db
        .all(
            select
                .order_by_asc(membership::Column::CreatedAt)
                .order_by_asc(membership::Column::UserId)
                .limit(request.limit + 1),
        )
        .await?;
    let rows = db.with_users(rows).await?;
    Ok(page(
        rows,
        &request,
        total,
        |(m, _)| MemberCursor(m.created_at, m.user_id),
        Member::from,
    ))
}

/// A member's email is for ADMIN or higher and for the member themself.
pub fn may_read_email(db: &TenantDb, member: Uuid) -> AppResult<()> {
    policy::require_on_row(db.actor(), P::ReadMemberEmails, Some(member))
}

async fn owner_count(db: &TenantDb) -> AppResult<u64> {
    db.count(
        db.find::<membership::Entity>()
            .filter(membership::Column::Role.eq(Role::Owner)),
    )
    .await
}

async fn ensure_not_last_owner(
    db: &TenantDb,
    member: &membership::Model,
    what: &str,
) -> AppResult<()> {
    if member.role == Role::Owner && owner_count(db).await? <= 1 {
        return Err(AppError::conflict(
            "userId",
            format!("the last owner cannot {what}: make another member an owner first"),
        ));
    }
    Ok(())
}

async fn member(db: &TenantDb, user_id: Uuid) -> AppResult<Member> {
    let row = db.get::<membership::Entity>(user_id).await?;
    db.with_users(vec![row])
        .await?
        .pop()
        .map(Member::from)
        .ok_or(AppError::not_found("member"))
}

/// The caller as they stand now that the organization is locked: their role may have
/// changed since the request began (a concurrent demotion by another owner), and every
/// decision about seats and owners is taken on the fresh one.
async fn locked_actor(db: &TenantDb) -> AppResult<crate::identity::Actor> {
    let me = db.member()?;
    let fresh = db
        .lookup::<membership::Entity>(me.user_id)
        .await?
        .ok_or_else(|| AppError::forbidden("you are not a member of this organization"))?;
    Ok(crate::identity::Actor::Member(crate::identity::Member {
        user_id: me.user_id,
        role: fresh.role,
    }))
}

/// What a change of standing took away from a person: the invitations they sent that
/// they can no longer grant, and the API keys they created (whose secrets they may hold)
/// unless the one who acted keeps them.
struct Withdrawn {
    invitations: Vec<Uuid>,
    api_keys: Vec<Uuid>,
    kept_api_keys: bool,
}

impl Withdrawn {
    fn audit(&self) -> serde_json::Value {
        json!({
            "revokedInvitations": self.invitations,
            "revokedApiKeys": self.api_keys,
            "keptApiKeys": self.kept_api_keys,
        })
    }
}

/// Withdraws what `user` can no longer grant now that they hold `role` (`None`: they
/// are no longer a member).
async fn withdraw(
    request: &RequestContext,
    services: &Services,
    db: &TenantDb,
    user: Uuid,
    role: Option<Role>,
    keep_api_keys: bool,
) -> AppResult<Withdrawn> {
    let invitations = crate::invitations::revoke_issued_by(db, user, role).await?;
    let may_keep_keys = role.is_some_and(|role| policy::role_holds(role, P::ManageApiKeys));
    let kept_api_keys = may_keep_keys || keep_api_keys;
    let api_keys = if kept_api_keys {
        Vec::new()
    } else {
        crate::api_keys::revoke_created_by(request, services, db, user).await?
    };
    Ok(Withdrawn {
        invitations,
        api_keys,
        kept_api_keys: keep_api_keys && !may_keep_keys,
    })
}

pub async fn update_role(
    request: &RequestContext,
    services: &Services,
    user_id: &ID,
    role: Role,
    keep_api_keys: bool,
) -> AppResult<Member> {
    let db = request.tenant()?;
    let user_id = parse_id("userId", user_id)?;
    // Locked before anything is read, so the counts below see every change before it.
    db.lock_organization().await?;
    let target = db.get::<membership::Entity>(user_id).await?;
    let actor = locked_actor(db).await?;
    policy::require_on_role(&actor, P::ChangeMemberRoles, target.role)?;
    policy::require_on_role(&actor, P::ChangeMemberRoles, role)?;
    if target.role == role {
        return member(db, target.user_id).await;
    }
    if role != Role::Owner {
        ensure_not_last_owner(db, &target, "be demoted").await?;
    }
    let before = target.role;
    let mut row: membership::ActiveModel = target.into();
    row.role = Set(role);
    row.updated_at = Set(Utc::now());
    let updated = db.update(row).await?;
    let withdrawn = withdraw(
        request,
        services,
        db,
        updated.user_id,
        Some(role),
        keep_api_keys,
    )
    .await?;
    db.audit(
        AuditAction::MemberRoleUpdated,
        "member",
        Some(updated.user_id.to_string()),
        json!({
            "before": { "role": before },
            "after": { "role": role },
            "withdrawn": withdrawn.audit(),
        }),
    )
    .await?;
    member(db, updated.user_id).await
}

pub async fn remove(
    request: &RequestContext,
    services: &Services,
    user_id: &ID,
    keep_api_keys: bool,
) -> AppResult<()> {
    let db = request.tenant()?;
    let user_id = parse_id("userId", user_id)?;
    db.lock_organization().await?;
    let target = db.get::<membership::Entity>(user_id).await?;
    policy::require_on_role(&locked_actor(db).await?, P::RemoveMembers, target.role)?;
    ensure_not_last_owner(db, &target, "be removed").await?;
    let withdrawn = withdraw(request, services, db, target.user_id, None, keep_api_keys).await?;
    remove_membership(db, target.user_id, false).await?;
    db.audit(
        AuditAction::MemberRemoved,
        "member",
        Some(target.user_id.to_string()),
        json!({ "before": { "role": target.role }, "withdrawn": withdrawn.audit() }),
    )
    .await
}

/// Removes a member: their contacts lose their owner and their conversations their
/// assignee (the keys require both to be members), then the membership goes. A member
/// `leaving` may go even while the organization is read-only. A new reference to a
/// member is cleared here too (`roles::every_reference_to_a_member_is_cleared_by_member_removal`
/// lists them from the database's catalog).
async fn remove_membership(db: &TenantDb, user_id: Uuid, leaving: bool) -> AppResult<()> {
    let nobody = sea_orm::Value::from(Option::<Uuid>::None);
    let owned = Condition::all().add(contact::Column::OwnerId.eq(user_id));
    let assigned = Condition::all().add(conversation::Column::AssigneeId.eq(user_id));
    let membership = Condition::all().add(membership::Column::UserId.eq(user_id));
    if !leaving {
        db.ensure_writable()?;
    }
    db.update_where_while_read_only::<contact::Entity>(
        owned,
        vec![(contact::Column::OwnerId, nobody.clone())],
    )
    .await?;
    db.update_where_while_read_only::<conversation::Entity>(
        assigned,
        vec![(conversation::Column::AssigneeId, nobody)],
    )
    .await?;
    let removed = db
        .delete_where_while_read_only::<membership::Entity>(membership)
        .await?;
    if removed == 0 {
        return Err(AppError::not_found("member"));
    }
    Ok(())
}

pub async fn leave(request: &RequestContext, services: &Services) -> AppResult<()> {
    let db = request.tenant()?;
    db.lock_organization().await?;
    let me = db.get::<membership::Entity>(db.member()?.user_id).await?;
    ensure_not_last_owner(db, &me, "leave").await?;
    let withdrawn = withdraw(request, services, db, me.user_id, None, false).await?;
    remove_membership(db, me.user_id, true).await?;
    db.audit(
        AuditAction::MemberLeft,
        "member",
        Some(me.user_id.to_string()),
        json!({ "before": { "role": me.role }, "withdrawn": withdrawn.audit() }),
    )
    .await
}

/// Makes `user_id` an owner and the caller an ADMIN; only with the proof that the
/// caller may transfer ownership.
pub async fn transfer_ownership(
    granted: policy::Granted<'_, policy::grants::TransferOwnership>,
    user_id: &ID,
) -> AppResult<Member> {
    let db = granted.db();
    let user_id = parse_id("userId", user_id)?;
    db.lock_organization().await?;
    policy::require(&locked_actor(db).await?, P::TransferOwnership)?;
    let target = db.get::<membership::Entity>(user_id).await?;
    let acting = db.member()?.user_id;
    if target.user_id == acting {
        return Err(AppError::invalid("userId", "must be another member"));
    }
    let now = Utc::now();
    let previous_role = target.role;
    let mut row: membership::ActiveModel = target.into();
    row.role = Set(Role::Owner);
    row.updated_at = Set(now);
    let new_owner = db.update(row).await?;
    let me = db.get::<membership::Entity>(acting).await?;
    let mut row: membership::ActiveModel = me.into();
    row.role = Set(Role::Admin);
    row.updated_at = Set(now);
    db.update(row).await?;
    // The former owner keeps their API keys (ADMIN manages keys) but not a pending
    // OWNER invitation they sent.
    let revoked = crate::invitations::revoke_issued_by(db, acting, Some(Role::Admin)).await?;
    db.audit(
        AuditAction::OrganizationOwnershipTransferred,
        "member",
        Some(new_owner.user_id.to_string()),
        json!({
            "before": { "owner": acting, "newOwnerRole": previous_role },
            "after": { "owner": new_owner.user_id, "previousOwnerRole": Role::Admin },
            "withdrawn": { "revokedInvitations": revoked },
        }),
    )
    .await?;
    member(db, new_owner.user_id).await
}
