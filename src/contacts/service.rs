//! The rules of contacts: validation, ownership, listing with keyset pagination.

use async_graphql::{ID, MaybeUndefined};
use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{
    Contact, ContactFilter, ContactOrder, ContactOrderField, CreateContactInput, OrderDirection,
    UpdateContactInput,
};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, page, page_request};
use crate::input::{Email, Name, Phone, parse_id};
use crate::tenant::{Actor, TenantDb, WriteError};
use entity::{Role, contact, membership};

const EMAIL_TAKEN: &str = "another contact has this email";

/// Where a page continues, by the order it is sorted in.
enum ContactCursor {
    Created(Uuid),
    Name(String, Uuid),
}

impl CursorKey for ContactCursor {
    fn encode(&self) -> String {
        match self {
            ContactCursor::Created(id) => format!("c1:{id}"),
            ContactCursor::Name(name, id) => format!("n1:{id}:{name}"),
        }
    }

    fn decode(raw: &str) -> Option<Self> {
        if let Some(id) = raw.strip_prefix("c1:") {
            return Uuid::parse_str(id).ok().map(ContactCursor::Created);
        }
        let rest = raw.strip_prefix("n1:")?;
        let (id, name) = rest.split_once(':')?;
        Some(ContactCursor::Name(
            name.to_owned(),
            Uuid::parse_str(id).ok()?,
        ))
    }
}

pub async fn list(
    db: &TenantDb,
    first: Option<i32>,
    after: Option<String>,
    filter: ContactFilter,
    order: ContactOrder,
) -> AppResult<Page<Contact>> {
    let request = page_request::<ContactCursor>(first, after)?;
    let mut select = db.find::<contact::Entity>();
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        select = select.filter(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col(contact::Column::Name)))
                        .like(LikeExpr::new(pattern.clone()).escape('\\')),
                )
                .add(
                    Expr::expr(Func::lower(Expr::col(contact::Column::Email)))
                        .like(LikeExpr::new(pattern).escape('\\')),
                ),
        );
    }
    if let Some(owner) = &filter.owner_id {
        select = select.filter(contact::Column::OwnerId.eq(parse_id("filter.ownerId", owner)?));
    }
    let total = db.count(select.clone()).await?;

    let ascending = order.direction == OrderDirection::Asc;
    let after = |column: contact::Column, value: sea_orm::Value| {
        if ascending {
            Expr::col(column).gt(value)
        } else {
            Expr::col(column).lt(value)
        }
    };
    match (order.field, &request.after) {
        (ContactOrderField::CreatedAt, Some(ContactCursor::Created(id))) => {
            select = select.filter(after(contact::Column::Id, (*id).into()));
        }
        (ContactOrderField::Name, Some(ContactCursor::Name(name, id))) => {
            select = select.filter(
                Condition::any()
                    .add(after(contact::Column::Name, name.clone().into()))
                    .add(
                        Condition::all()
                            .add(contact::Column::Name.eq(name.clone()))
                            .add(after(contact::Column::Id, (*id).into())),
                    ),
            );
        }
        (_, None) => {}
        _ => {
            return Err(AppError::invalid(
                "after",
                "this cursor belongs to a different order",
            ));
        }
    }
    let direction = if ascending {
        sea_orm::Order::Asc
    } else {
        sea_orm::Order::Desc
    };
    if order.field == ContactOrderField::Name {
        select = select.order_by(contact::Column::Name, direction.clone());
    }
    select = select
        .order_by(contact::Column::Id, direction)
        .limit(request.limit + 1);
    let rows = db.all(select).await?;
    let field = order.field;
    Ok(page(
        rows,
        &request,
        total,
        |row| match field {
            ContactOrderField::CreatedAt => ContactCursor::Created(row.id),
            ContactOrderField::Name => ContactCursor::Name(row.name.clone(), row.id),
        },
        Contact::from,
    ))
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn get(db: &TenantDb, id: &ID) -> AppResult<contact::Model> {
    db.get::<contact::Entity>(parse_id("id", id)?).await
}

/// The owner must be a member of this organization; anyone else is "not found" here,
/// exactly like an id that does not exist.
async fn owner(db: &TenantDb, field: &str, id: &ID) -> AppResult<Uuid> {
    let owner = parse_id(field, id)?;
    Ok(db.get::<membership::Entity>(owner).await?.user_id)
}

/// Private notes are for the contact's owner and MANAGER or higher.
pub fn may_read_notes(db: &TenantDb, owner: Option<Uuid>) -> AppResult<()> {
    let Actor::Member(member) = db.actor() else {
        return Err(AppError::forbidden(
            "private notes are for people: API keys cannot read them",
        ));
    };
    if member.role.at_least(Role::Manager) || owner == Some(member.user_id) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the contact's owner and MANAGER or higher may read its notes",
        ))
    }
}

/// Private notes are written by people only.
fn may_write_notes(db: &TenantDb) -> AppResult<()> {
    match db.actor() {
        Actor::Member(_) => Ok(()),
        Actor::ApiKey { .. } => Err(AppError::forbidden(
            "private notes are for people: API keys cannot write them",
        )),
    }
}

fn notes(raw: Option<String>) -> AppResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) if text.chars().count() > 10_000 => Err(AppError::invalid(
            "notes",
            "must be at most 10000 characters",
        )),
        Some(text) => Ok(Some(text)),
    }
}

/// Members change the contacts they own, MANAGER or higher any; an API key with
/// `contacts:write` (checked by the field) any.
fn may_change(db: &TenantDb, contact: &contact::Model) -> AppResult<()> {
    let allowed = match db.actor() {
        Actor::Member(member) => {
            member.role.at_least(Role::Manager) || contact.owner_id == Some(member.user_id)
        }
        Actor::ApiKey { .. } => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "members may only change contacts they own; MANAGER or higher may change any",
        ))
    }
}

fn may_reassign(db: &TenantDb) -> AppResult<()> {
    if db.role().is_some_and(|role| role.at_least(Role::Manager)) {
        Ok(())
    } else if db.role().is_none() {
        Err(AppError::forbidden(
            "API keys cannot assign contacts to members: leave ownerId out",
        ))
    } else {
        Err(AppError::forbidden(
            "only MANAGER or higher may give a contact to another owner",
        ))
    }
}

pub async fn create(db: &TenantDb, input: CreateContactInput) -> AppResult<contact::Model> {
    let name = Name::parse("name", &input.name, 200)?;
    let email = input
        .email
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse("email", &e).map(Email::into_inner))
        .transpose()?;
    let phone = input
        .phone
        .filter(|p| !p.trim().is_empty())
        .map(|p| Phone::parse("phone", &p).map(Phone::into_inner))
        .transpose()?;
    // A member owns what they create; a key's contacts have no owner.
    let owner_id = match &input.owner_id {
        Some(id) => {
            if db.user_id().is_none() {
                may_reassign(db)?;
            }
            Some(owner(db, "ownerId", id).await?)
        }
        None => db.user_id(),
    };
    if owner_id != db.user_id() {
        may_reassign(db)?;
    }
    if input.notes.is_some() {
        may_write_notes(db)?;
    }
    let now = Utc::now();
    db.insert(contact::ActiveModel {
        organization_id: NotSet,
        id: Set(Uuid::now_v7()),
        name: Set(name.into_inner()),
        email: Set(email),
        phone: Set(phone),
        owner_id: Set(owner_id),
        notes: Set(notes(input.notes)?),
        external_id: Set(None),
        attributes: Set("{}".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .await
    .map_err(|e| e.conflict_on("email", EMAIL_TAKEN))
}

pub async fn update(
    db: &TenantDb,
    id: &ID,
    input: UpdateContactInput,
) -> AppResult<contact::Model> {
    let existing = get(db, id).await?;
    may_change(db, &existing)?;
    let mut row: contact::ActiveModel = existing.into();
    if let Some(name) = input.name {
        row.name = Set(Name::parse("name", &name, 200)?.into_inner());
    }
    match input.email {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => row.email = Set(None),
        MaybeUndefined::Value(email) if email.trim().is_empty() => row.email = Set(None),
        MaybeUndefined::Value(email) => {
            row.email = Set(Some(Email::parse("email", &email)?.into_inner()));
        }
    }
    match input.phone {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => row.phone = Set(None),
        MaybeUndefined::Value(phone) if phone.trim().is_empty() => row.phone = Set(None),
        MaybeUndefined::Value(phone) => {
            row.phone = Set(Some(Phone::parse("phone", &phone)?.into_inner()));
        }
    }
    match input.owner_id {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => {
            may_reassign(db)?;
            row.owner_id = Set(None);
        }
        MaybeUndefined::Value(owner_id) => {
            if db.user_id().is_none() {
                may_reassign(db)?;
            }
            let owner_id = owner(db, "ownerId", &owner_id).await?;
            if Some(owner_id) != db.user_id() {
                may_reassign(db)?;
            }
            row.owner_id = Set(Some(owner_id));
        }
    }
    if !input.notes.is_undefined() {
        may_write_notes(db)?;
    }
    match input.notes {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => row.notes = Set(None),
        MaybeUndefined::Value(text) => row.notes = Set(notes(Some(text))?),
    }
    row.updated_at = Set(Utc::now());
    db.update(row)
        .await
        .map_err(|e: WriteError| e.conflict_on("email", EMAIL_TAKEN))
}

pub async fn delete(db: &TenantDb, id: &ID) -> AppResult<()> {
    let existing = get(db, id).await?;
    may_change(db, &existing)?;
    db.delete::<contact::Entity>(existing.id)
        .await
        .map_err(AppError::from)
}
