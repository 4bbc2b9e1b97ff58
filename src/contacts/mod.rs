//! Contacts: the first CRM data, and the proof of the isolation walls.

mod service;

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject,
};
use chrono::{DateTime, Utc};

use crate::conversations::{Conversation, ConversationStatus};
use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::{Allow, Reached};
use crate::graphql::id::Id;
use crate::graphql::loaders::{
    ConversationCount, ConversationsOf, NestedCount, TagsOf, load_error,
};
use crate::graphql::pagination::{Page, Total, nested_page, nested_request};
use crate::members::Member;
use crate::policy::{self, Permission as P};
use entity::contact;

/// A person or company the organization deals with. Its fields need `READ_CONTACTS`
/// (an API key: `contacts:read`), except `id`, which the answer of a write always has.
#[derive(SimpleObject, Clone)]
#[graphql(complex, guard = "Allow(P::ReadContacts)")]
pub struct Contact {
    #[graphql(guard = "Reached")]
    pub id: Id,
    #[graphql(visible = "crate::policy::visible::read_contacts")]
    pub name: String,
    /// Personal data: MEMBER or higher, or an API key with `contacts:read_pii`.
    #[graphql(
        guard = "Allow(P::ReadPersonalData)",
        visible = "crate::policy::visible::read_personal_data"
    )]
    pub email: Option<String>,
    /// Personal data: MEMBER or higher, or an API key with `contacts:read_pii`.
    /// Normalised to `+` and digits.
    #[graphql(
        guard = "Allow(P::ReadPersonalData)",
        visible = "crate::policy::visible::read_personal_data"
    )]
    pub phone: Option<String>,
    /// The member responsible for this contact.
    #[graphql(visible = "crate::policy::visible::read_contacts")]
    pub owner_id: Option<Id>,
    /// The contact's id in the partner's system, unique within the organization.
    #[graphql(visible = "crate::policy::visible::read_contacts")]
    pub external_id: Option<String>,
    #[graphql(visible = "crate::policy::visible::read_contacts")]
    pub created_at: DateTime<Utc>,
    #[graphql(visible = "crate::policy::visible::read_contacts")]
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    private_notes: Option<String>,
    /// As stored: parsed only when selected.
    #[graphql(skip)]
    stored_attributes: String,
}

// Its fields but `notes`, `attributes`, `tags`, `owner` and `conversations` are values of
// the row whose guards read the request alone: a page of contacts writes them straight
// to JSON and resolves the others (`graphql::plain`).
impl crate::graphql::plain::PageNode for Contact {
    const PLAIN: bool = true;

    fn write_field(&self, name: &str, out: &mut Vec<u8>) -> bool {
        use crate::graphql::plain::Plain;
        match name {
            "id" => self.id.write(out),
            "name" => self.name.write(out),
            "email" => self.email.write(out),
            "phone" => self.phone.write(out),
            "ownerId" => self.owner_id.write(out),
            "externalId" => self.external_id.write(out),
            "createdAt" => self.created_at.write(out),
            "updatedAt" => self.updated_at.write(out),
            _ => return false,
        }
        true
    }
}

#[ComplexObject(guard = "Allow(P::ReadContacts)")]
impl Contact {
    /// Private notes: only the contact's owner and MANAGER or higher read them (never
    /// API keys).
    #[graphql(
        guard = "Allow(P::ReadContactNotes)",
        visible = "crate::policy::visible::read_contact_notes"
    )]
    async fn notes(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        let db = ctx.request()?.tenant_with(P::ReadContactNotes)?;
        policy::require_on_row(
            db.actor(),
            P::ReadContactNotes,
            self.owner_id.map(|Id(id)| id),
        )?;
        Ok(self.private_notes.clone())
    }

    /// Custom attributes (a JSON object). Partners put personal data here, so it is
    /// personal data: MEMBER or higher, or an API key with `contacts:read_pii`.
    #[graphql(
        guard = "Allow(P::ReadPersonalData)",
        visible = "crate::policy::visible::read_personal_data"
    )]
    async fn attributes(&self) -> Json<serde_json::Value> {
        Json(
            serde_json::from_str(&self.stored_attributes)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
        )
    }

    /// Its tags, sorted.
    #[graphql(visible = "crate::policy::visible::read_contacts")]
    async fn tags(&self, ctx: &Context<'_>) -> GqlResult<Vec<String>> {
        Ok(ctx
            .loaders()?
            .load_one(TagsOf(self.id.0))
            .await
            .map_err(load_error)?
            .unwrap_or_default())
    }

    /// The member responsible for it (members only: API keys never see members).
    #[graphql(
        guard = "Allow(P::ReadMembers)",
        visible = "crate::policy::visible::read_members"
    )]
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<Member>> {
        Member::load(ctx, self.owner_id.map(|Id(id)| id)).await
    }

    /// Its conversations, most recently started first (`first` 1–100, default 20). API
    /// keys need `conversations:read`.
    #[graphql(
        guard = "Allow(P::ReadConversations)",
        visible = "crate::policy::visible::read_conversations",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ConversationStatus>,
    ) -> GqlResult<Page<Conversation>> {
        let request = nested_request(first, after, None, None)?;
        let status = status.map(entity::ConversationStatus::from);
        let loaded = ctx
            .loaders()?
            .load_one(ConversationsOf {
                contact: self.id.0,
                page: request.per_parent(ctx, true),
                status,
            })
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        let total = Total::Counted(Box::new(NestedCount(ConversationCount {
            contact: self.id.0,
            status,
        })));
        Ok(nested_page(
            loaded,
            &request,
            total,
            |row| row.id,
            Conversation::from,
        ))
    }
}

impl From<contact::Model> for Contact {
    fn from(model: contact::Model) -> Self {
        Contact {
            id: Id(model.id),
            name: model.name,
            email: model.email,
            phone: model.phone,
            owner_id: model.owner_id.map(Id),
            created_at: model.created_at,
            updated_at: model.updated_at,
            private_notes: model.notes,
            external_id: model.external_id,
            stored_attributes: model.attributes,
        }
    }
}

#[derive(InputObject)]
pub struct CreateContactInput {
    /// 1–200 characters.
    pub name: String,
    /// Unique among the organization's contacts.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// A member of the organization; defaults to you. Another owner needs MANAGER.
    pub owner_id: Option<ID>,
    /// Private notes, up to 10,000 characters.
    pub notes: Option<String>,
    /// Unique among the organization's contacts; up to 200 characters.
    pub external_id: Option<String>,
    /// Up to 50 tags, each 1–64 characters (stored lowercased).
    pub tags: Option<Vec<String>>,
    /// A JSON object of custom attributes, up to 16 KiB.
    pub attributes: Option<Json<serde_json::Value>>,
}

/// Omitted fields stay as they are; `null` clears `email`, `phone` and `ownerId`.
#[derive(InputObject)]
pub struct UpdateContactInput {
    pub name: Option<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub owner_id: MaybeUndefined<ID>,
    pub notes: MaybeUndefined<String>,
    pub external_id: MaybeUndefined<String>,
    /// Replaces the contact's tags.
    pub tags: Option<Vec<String>>,
    /// Replaces the contact's attributes.
    pub attributes: Option<Json<serde_json::Value>>,
}

/// Who a partner is talking about: found by `externalId`, else by `email`; created when
/// neither matches. Given fields are updated; `tags` are added and `attributes` merged
/// key by key.
#[derive(InputObject)]
pub struct IdentifyContactInput {
    pub external_id: Option<String>,
    pub email: Option<String>,
    /// Required to create a contact unless `email` or `externalId` can stand in for it.
    pub name: Option<String>,
    pub phone: Option<String>,
    pub tags: Option<Vec<String>>,
    pub attributes: Option<Json<serde_json::Value>>,
}

/// The contact `identifyContact` found or made.
#[derive(SimpleObject)]
pub struct IdentifyContactPayload {
    pub contact: Contact,
    /// Whether the contact was created by this call.
    pub created: bool,
}

#[derive(InputObject, Default)]
pub struct ContactFilter {
    /// Case-insensitive substring of the name, or of the email for callers who may read
    /// emails (MEMBER or higher, keys with `contacts:read_pii`).
    pub search: Option<String>,
    /// Only contacts of this owner.
    pub owner_id: Option<ID>,
    /// Only contacts with this tag.
    pub tag: Option<String>,
    /// Only contacts created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only contacts created before this time.
    pub created_to: Option<DateTime<Utc>>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactOrderField {
    /// Creation time (the default).
    #[default]
    CreatedAt,
    Name,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    Asc,
    /// Newest or last first (the default).
    #[default]
    Desc,
}

#[derive(InputObject, Default)]
pub struct ContactOrder {
    #[graphql(default)]
    pub field: ContactOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    /// The organization's contacts, a page at a time (`first` 1–100, default 20).
    /// API keys need `contacts:read`.
    #[graphql(
        guard = "Allow(P::ReadContacts)",
        visible = "crate::policy::visible::read_contacts",
        complexity = "crate::graphql::pagination::page_complexity(first, child_complexity)"
    )]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ContactFilter>,
        order_by: Option<ContactOrder>,
    ) -> GqlResult<Page<Contact, service::ContactCursor>> {
        Ok(service::list(
            ctx.request()?.tenant_with(P::ReadContacts)?,
            first,
            after,
            filter.unwrap_or_default(),
            order_by.unwrap_or_default(),
            service::Wide::selected(ctx),
        )
        .await?)
    }

    /// One contact; `NOT_FOUND` when this organization has none with this id. API keys
    /// need `contacts:read`.
    #[graphql(
        guard = "Allow(P::ReadContacts)",
        visible = "crate::policy::visible::read_contacts"
    )]
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Contact>> {
        Ok(Some(
            service::get(ctx.request()?.tenant_with(P::ReadContacts)?, &id)
                .await?
                .into(),
        ))
    }
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    /// Adds a contact. MEMBER or higher, or an API key with `contacts:write` (its
    /// contacts have no owner).
    #[graphql(
        guard = "Allow(P::CreateContacts)",
        visible = "crate::policy::visible::create_contacts"
    )]
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> GqlResult<Contact> {
        Ok(
            service::create(ctx.request()?.tenant_with(P::CreateContacts)?, input)
                .await?
                .into(),
        )
    }

    /// Changes a contact. MEMBER for contacts they own, MANAGER or higher for any; an
    /// API key with `contacts:write` any.
    #[graphql(
        guard = "Allow(P::UpdateContacts)",
        visible = "crate::policy::visible::update_contacts"
    )]
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateContactInput,
    ) -> GqlResult<Contact> {
        Ok(
            service::update(ctx.request()?.tenant_with(P::UpdateContacts)?, &id, input)
                .await?
                .into(),
        )
    }

    /// Finds the contact a partner means by `externalId` or `email`, creating it when
    /// there is none, and updates what the input gives. MEMBER or higher, or an API key
    /// with `contacts:write`.
    #[graphql(
        guard = "Allow(P::CreateContacts)",
        visible = "crate::policy::visible::create_contacts"
    )]
    async fn identify_contact(
        &self,
        ctx: &Context<'_>,
        input: IdentifyContactInput,
    ) -> GqlResult<IdentifyContactPayload> {
        let (contact, created) =
            service::identify(ctx.request()?.tenant_with(P::CreateContacts)?, input).await?;
        Ok(IdentifyContactPayload {
            contact: contact.into(),
            created,
        })
    }

    /// Deletes a contact and answers its id. MEMBER for contacts they own, MANAGER or
    /// higher for any; an API key with `contacts:write` any.
    #[graphql(
        guard = "Allow(P::DeleteContacts)",
        visible = "crate::policy::visible::delete_contacts"
    )]
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        service::delete(ctx.request()?.tenant_with(P::DeleteContacts)?, &id).await?;
        Ok(id)
    }
}
