//! The rules of contacts: validation, ownership, listing with keyset pagination.

mod identify;
mod parse;
mod wide;

pub use identify::identify;
use parse::*;
pub use wide::Wide;

use async_graphql::Json;
use async_graphql::{ID, MaybeUndefined};
use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{
    Contact, ContactFilter, ContactOrder, ContactOrderField, CreateContactInput,
    IdentifyContactInput, OrderDirection, UpdateContactInput,
};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, Total, page, page_request};
use crate::input::{Email, JsonObject, Name, Phone, parse_id};
use crate::policy::{self, Permission as P};
use crate::tenant::{TenantDb, WriteError};
use entity::{contact, contact_tag, membership};

const EMAIL_TAKEN: &str = "another contact has this email";

/// Where a page continues, by the order it is sorted in.
pub(crate) enum ContactCursor {
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
    wide: Wide,
) -> AppResult<Page<Contact, ContactCursor>> {
    let request = page_request::<ContactCursor>(first, after)?;
    let mut select = wide.narrow(db.find::<contact::Entity>());
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let mut matches = Condition::any().add(
            Expr::expr(Func::lower(Expr::col(contact::Column::Name)))
                .like(LikeExpr::new(pattern.clone()).escape('\\')),
        );
        // A search matches only what the caller may read: otherwise emails could be
        // recovered a character at a time from which contacts match.
        if policy::holds(db.actor(), P::ReadPersonalData) {
            matches = matches.add(
                Expr::expr(Func::lower(Expr::col(contact::Column::Email)))
                    .like(LikeExpr::new(pattern).escape('\\')),
            );
        }
        select = select.filter(matches);
    }
    if let Some(owner) = &filter.owner_id {
        select = select.filter(contact::Column::OwnerId.eq(parse_id("filter.ownerId", owner)?));
    }
    if let Some(tag) = &filter.tag {
        let tag = parse_tag("filter.tag", tag)?;
        select = select.filter(
            contact::Column::Id.in_subquery(
                Query::select()
                    .column(contact_tag::Column::ContactId)
                    .from(contact_tag::Entity)
                    .and_where(contact_tag::Column::OrganizationId.eq(db.organization_id()))
                    .and_where(contact_tag::Column::Tag.eq(tag))
                    .to_owned(),
            ),
        );
    }
    if let Some(from) = filter.created_from {
        let from = crate::input::bounded_time("filter.createdFrom", from)?;
        select = select.filter(contact::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        let to = crate::input::bounded_time("filter.createdTo", to)?;
        select = select.filter(contact::Column::CreatedAt.lt(to));
    }
    let total = Total::of(db, select.clone());

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

/// Private notes are written by people only: the contact's owner and MANAGER or higher.
fn may_write_notes(db: &TenantDb, owner: Option<Uuid>) -> AppResult<()> {
    policy::require_on_row(db.actor(), P::WriteContactNotes, owner)
}

/// Setting or matching a contact's email needs the right to read it: emails are unique
/// in the organization, so a `CONFLICT` (or a match) would tell a caller who may not
/// read emails whose address it is.
fn may_use_email(db: &TenantDb) -> AppResult<()> {
    policy::require(db.actor(), P::ReadPersonalData)
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
/// `contacts:write` any.
fn may_change(db: &TenantDb, permission: P, contact: &contact::Model) -> AppResult<()> {
    policy::require_on_row(db.actor(), permission, contact.owner_id)
}

fn may_reassign(db: &TenantDb) -> AppResult<()> {
    policy::require(db.actor(), P::AssignContacts)
}

pub async fn create(db: &TenantDb, input: CreateContactInput) -> AppResult<contact::Model> {
    let name = Name::parse("name", &input.name, 200)?;
    let email = input
        .email
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse("email", &e).map(Email::into_inner))
        .transpose()?;
    if email.is_some() {
        may_use_email(db)?;
    }
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
        may_write_notes(db, owner_id)?;
    }
    let external_id = input
        .external_id
        .as_deref()
        .map(|raw| parse_external_id("externalId", raw))
        .transpose()?
        .flatten();
    let attributes = input
        .attributes
        .map(|Json(value)| parse_attributes("attributes", value))
        .transpose()?
        .unwrap_or_else(|| "{}".to_owned());
    let tags = input
        .tags
        .map(|tags| parse_tags("tags", &tags))
        .transpose()?;
    let now = Utc::now();
    let created = db
        .insert(contact::ActiveModel {
            organization_id: NotSet,
            id: Set(Uuid::now_v7()),
            name: Set(name.into_inner()),
            email: Set(email),
            phone: Set(phone),
            owner_id: Set(owner_id),
            notes: Set(notes(input.notes)?),
            external_id: Set(external_id),
            attributes: Set(attributes),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await
        .map_err(contact_conflict)?;
    if let Some(tags) = tags {
        set_tags(db, created.id, &tags, true).await?;
    }
    Ok(created)
}

pub async fn update(
    db: &TenantDb,
    id: &ID,
    input: UpdateContactInput,
) -> AppResult<contact::Model> {
    let existing = get(db, id).await?;
    may_change(db, P::UpdateContacts, &existing)?;
    if !input.notes.is_undefined() {
        may_write_notes(db, existing.owner_id)?;
    }
    if !input.email.is_undefined() {
        may_use_email(db)?;
    }
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
    match input.notes {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => row.notes = Set(None),
        MaybeUndefined::Value(text) => row.notes = Set(notes(Some(text))?),
    }
    match input.external_id {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => row.external_id = Set(None),
        MaybeUndefined::Value(raw) => {
            row.external_id = Set(parse_external_id("externalId", &raw)?);
        }
    }
    if let Some(Json(attributes)) = input.attributes {
        row.attributes = Set(parse_attributes("attributes", attributes)?);
    }
    let tags = input
        .tags
        .map(|tags| parse_tags("tags", &tags))
        .transpose()?;
    row.updated_at = Set(Utc::now());
    let updated = db.update(row).await.map_err(contact_conflict)?;
    if let Some(tags) = tags {
        set_tags(db, updated.id, &tags, true).await?;
    }
    Ok(updated)
}

/// Sets a contact's tags: replacing them all, or adding to them.
async fn set_tags(
    db: &TenantDb,
    contact_id: Uuid,
    tags: &[String],
    replace: bool,
) -> AppResult<()> {
    let existing: Vec<String> = db
        .all(
            db.find::<contact_tag::Entity>()
                .filter(contact_tag::Column::ContactId.eq(contact_id)),
        )
        .await?
        .into_iter()
        .map(|row| row.tag)
        .collect();
    if replace {
        let gone: Vec<String> = existing
            .iter()
            .filter(|tag| !tags.contains(tag))
            .cloned()
            .collect();
        if !gone.is_empty() {
            db.delete_where::<contact_tag::Entity>(
                Condition::all()
                    .add(contact_tag::Column::ContactId.eq(contact_id))
                    .add(contact_tag::Column::Tag.is_in(gone)),
            )
            .await?;
        }
    } else if existing.len() + tags.iter().filter(|t| !existing.contains(t)).count() > MAX_TAGS {
        return Err(AppError::invalid(
            "tags",
            format!("a contact holds at most {MAX_TAGS} tags"),
        ));
    }
    for tag in tags.iter().filter(|tag| !existing.contains(tag)) {
        db.insert(contact_tag::ActiveModel {
            organization_id: NotSet,
            contact_id: Set(contact_id),
            tag: Set(tag.clone()),
        })
        .await?;
    }
    Ok(())
}

pub async fn delete(db: &TenantDb, id: &ID) -> AppResult<()> {
    let existing = get(db, id).await?;
    may_change(db, P::DeleteContacts, &existing)?;
    db.delete::<contact::Entity>(existing.id)
        .await
        .map_err(AppError::from)
}
