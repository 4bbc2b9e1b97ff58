//! The rules of membership.

use async_graphql::ID;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::{Member, MemberFilter};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, page, page_request};
use crate::input::parse_id;
use crate::tenant::TenantDb;
use entity::{Role, membership};

/// Where a page of members continues: join time, then user id.
struct MemberCursor(DateTime<Utc>, Uuid);

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
) -> AppResult<Page<Member>> {
    let request = page_request::<MemberCursor>(first, after)?;
    let mut select = db.find::<membership::Entity>();
    if let Some(role) = filter.role {
        select = select.filter(membership::Column::Role.eq(Role::from(role)));
    }
    let total = db.count(select.clone()).await?;
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
    if db.role().is_some_and(|role| role.at_least(Role::Admin)) || db.user_id() == Some(member) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "members' emails are visible to ADMIN or higher only",
        ))
    }
}

/// Whether the caller may act on a member who holds `target`.
fn may_act_on(actor: Role, target: Role) -> AppResult<()> {
    if target == Role::Owner && actor != Role::Owner {
        return Err(AppError::forbidden(
            "only an OWNER may change or remove an owner",
        ));
    }
    if !actor.at_least(target) {
        return Err(AppError::forbidden(
            "you cannot act on a member above your own role",
        ));
    }
    Ok(())
}

/// Whether the caller may hand out `role`.
pub fn may_grant(actor: Role, role: Role) -> AppResult<()> {
    if role == Role::Owner && actor != Role::Owner {
        return Err(AppError::forbidden(
            "only an OWNER may make someone an owner",
        ));
    }
    if !actor.at_least(role) {
        return Err(AppError::forbidden(
            "you cannot grant a role above your own",
        ));
    }
    Ok(())
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

pub async fn update_role(db: &TenantDb, user_id: &ID, role: Role) -> AppResult<Member> {
    let target = db
        .get::<membership::Entity>(parse_id("userId", user_id)?)
        .await?;
    let me = db.member()?;
    may_act_on(me.role, target.role)?;
    may_grant(me.role, role)?;
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
    db.audit(
        "member.role_updated",
        "member",
        Some(updated.user_id.to_string()),
        json!({ "before": { "role": before }, "after": { "role": role } }),
    )
    .await?;
    member(db, updated.user_id).await
}

pub async fn remove(db: &TenantDb, user_id: &ID) -> AppResult<()> {
    let target = db
        .get::<membership::Entity>(parse_id("userId", user_id)?)
        .await?;
    may_act_on(db.member()?.role, target.role)?;
    ensure_not_last_owner(db, &target, "be removed").await?;
    db.remove_member(target.user_id, false).await?;
    db.audit(
        "member.removed",
        "member",
        Some(target.user_id.to_string()),
        json!({ "before": { "role": target.role } }),
    )
    .await
}

pub async fn leave(db: &TenantDb) -> AppResult<()> {
    let me = db.get::<membership::Entity>(db.member()?.user_id).await?;
    ensure_not_last_owner(db, &me, "leave").await?;
    db.remove_member(me.user_id, true).await?;
    db.audit(
        "member.left",
        "member",
        Some(me.user_id.to_string()),
        json!({ "before": { "role": me.role } }),
    )
    .await
}

pub async fn transfer_ownership(db: &TenantDb, user_id: &ID) -> AppResult<Member> {
    let target = db
        .get::<membership::Entity>(parse_id("userId", user_id)?)
        .await?;
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
    db.audit(
        "organization.ownership_transferred",
        "member",
        Some(new_owner.user_id.to_string()),
        json!({
            "before": { "owner": acting, "newOwnerRole": previous_role },
            "after": { "owner": new_owner.user_id, "previousOwnerRole": Role::Admin },
        }),
    )
    .await?;
    member(db, new_owner.user_id).await
}
