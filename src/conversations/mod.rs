//! Conversations with contacts on a channel, and their messages. Nested fields
//! (`Conversation.contact`, `.assignee`, `.messages`, `Message.conversation`) go through
//! the request's data loaders, so a page costs the same number of statements whatever
//! its size.

mod service;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

pub use crate::channels::ChannelKind;
use crate::contacts::Contact;
use crate::error::GqlResult;
use crate::graphql::ContextExt;
use crate::graphql::guards::{Allow, Reached};
use crate::graphql::id::Id;
use crate::graphql::loaders::{
    ContactId, ConversationId, MessageCount, MessagesOf, NestedCount, load_error,
};
use crate::graphql::pagination::{Page, Total, nested_page, nested_request};
use crate::members::Member;
use crate::policy::Permission as P;
use entity::{conversation, message};

/// Whether a conversation is going on.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::ConversationStatus")]
pub enum ConversationStatus {
    Open,
    Closed,
}

/// Who wrote a message.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::MessageAuthor")]
pub enum MessageAuthor {
    /// The contact.
    Contact,
    /// A member of the organization (people only).
    Agent,
    /// The organization's AI agent.
    Ai,
}

/// A conversation with a contact on one channel. Its fields need `READ_CONVERSATIONS`
/// (an API key: `conversations:read`), except `id`, which the answer of a write always
/// has.
#[derive(SimpleObject, Clone)]
// Resolved one field after the other, like `Message`: of its fields only `contact`,
// `assignee` and `messages` wait on a loader, each batched across the page.
#[graphql(complex, serial, guard = "Allow(P::ReadConversations)")]
pub struct Conversation {
    #[graphql(guard = "Reached")]
    pub id: Id,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub channel: ChannelKind,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub status: ConversationStatus,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub contact_id: Id,
    /// The member handling it.
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub assignee_id: Option<Id>,
    /// Filled when the conversation is closed (see the `SUMMARIZE_CONVERSATIONS` job).
    /// Personal data: MEMBER or higher, or an API key with `contacts:read_pii`.
    #[graphql(
        guard = "Allow(P::ReadPersonalData)",
        visible = "crate::policy::visible::read_personal_data"
    )]
    pub summary: Option<String>,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub created_at: DateTime<Utc>,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub updated_at: DateTime<Utc>,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub closed_at: Option<DateTime<Utc>>,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub last_message_at: Option<DateTime<Utc>>,
}

// Its fields but `contact`, `assignee` and `messages` are values of the row whose guards
// read the request alone: a page of conversations writes them straight to JSON and
// resolves the others (`graphql::plain`).
impl crate::graphql::plain::PageNode for Conversation {
    const PLAIN: bool = true;

    fn write_field(&self, name: &str, out: &mut Vec<u8>) -> bool {
        use crate::graphql::plain::{Plain, write_enum};
        match name {
            "id" => self.id.write(out),
            "channel" => write_enum(&self.channel, out),
            "status" => write_enum(&self.status, out),
            "contactId" => self.contact_id.write(out),
            "assigneeId" => self.assignee_id.write(out),
            "summary" => self.summary.write(out),
            "createdAt" => self.created_at.write(out),
            "updatedAt" => self.updated_at.write(out),
            "closedAt" => self.closed_at.write(out),
            "lastMessageAt" => self.last_message_at.write(out),
            _ => return false,
        }
        true
    }
}

impl From<conversation::Model> for Conversation {
    fn from(model: conversation::Model) -> Self {
        Conversation {
            id: Id(model.id),
            channel: model.channel.into(),
            status: model.status.into(),
            contact_id: Id(model.contact_id),
            assignee_id: model.assignee_id.map(Id),
            summary: model.summary,
            created_at: model.created_at,
            updated_at: model.updated_at,
            closed_at: model.closed_at,
            last_message_at: model.last_message_at,
        }
    }
}

#[ComplexObject(guard = "Allow(P::ReadConversations)")]
impl Conversation {
    /// The contact it is with (API keys need `contacts:read`).
    #[graphql(
        guard = "Allow(P::ReadContacts)",
        visible = "crate::policy::visible::read_contacts"
    )]
    async fn contact(&self, ctx: &Context<'_>) -> GqlResult<Option<Contact>> {
        Ok(ctx
            .loaders()?
            .load_one(ContactId(self.contact_id.0))
            .await
            .map_err(load_error)?
            .map(Contact::from))
    }

    /// The member handling it (members only: API keys never see members).
    #[graphql(
        guard = "Allow(P::ReadMembers)",
        visible = "crate::policy::visible::read_members"
    )]
    async fn assignee(&self, ctx: &Context<'_>) -> GqlResult<Option<Member>> {
        Member::load(ctx, self.assignee_id.map(|Id(id)| id)).await
    }

    /// Its messages in the order they were posted: `first`/`after` from the start, or
    /// `last`/`before` for the most recent (1–100, default 20).
    #[graphql(
        visible = "crate::policy::visible::read_conversations",
        complexity = "crate::graphql::pagination::page_complexity(first.or(last), child_complexity)"
    )]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Page<Message>> {
        let request = nested_request(first, after, last, before)?;
        let loaded = ctx
            .loaders()?
            .load_one(MessagesOf {
                conversation: self.id.0,
                page: request.per_parent(ctx, request.from_end),
            })
            .await
            .map_err(load_error)?
            .unwrap_or_default();
        let total = Total::Counted(Box::new(NestedCount(MessageCount(self.id.0))));
        Ok(nested_page(
            loaded,
            &request,
            total,
            |row| row.id,
            Message::from,
        ))
    }
}

/// A message of a conversation. Its fields need `READ_CONVERSATIONS` (an API key:
/// `conversations:read`), except `id`, which the answer of a write always has.
#[derive(SimpleObject, Clone)]
// Its fields are resolved one after the other: all but `conversation` are plain
// values, and async-graphql's concurrent resolution costs a task, a queue and wake-ups
// per field. The messages of a page still resolve concurrently, so a loader still
// batches the whole page.
#[graphql(complex, serial, guard = "Allow(P::ReadConversations)")]
pub struct Message {
    #[graphql(guard = "Reached")]
    pub id: Id,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub conversation_id: Id,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub author: MessageAuthor,
    /// The member who wrote an `AGENT` message.
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub author_id: Option<Id>,
    /// Personal data: MEMBER or higher, or an API key with `contacts:read_pii`.
    #[graphql(
        guard = "Allow(P::ReadPersonalData)",
        visible = "crate::policy::visible::read_personal_data"
    )]
    pub body: String,
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    pub created_at: DateTime<Utc>,
}

// Every field but `conversation` is a value of the row, and its guards read the request
// alone: a page of messages is written straight to JSON (`graphql::plain`).
impl crate::graphql::plain::PageNode for Message {
    const PLAIN: bool = true;

    fn write_field(&self, name: &str, out: &mut Vec<u8>) -> bool {
        use crate::graphql::plain::{Plain, write_enum};
        match name {
            "id" => self.id.write(out),
            "conversationId" => self.conversation_id.write(out),
            "author" => write_enum(&self.author, out),
            "authorId" => self.author_id.write(out),
            "body" => self.body.write(out),
            "createdAt" => self.created_at.write(out),
            _ => return false,
        }
        true
    }
}

impl From<message::Model> for Message {
    fn from(model: message::Model) -> Self {
        Message {
            id: Id(model.id),
            conversation_id: Id(model.conversation_id),
            author: model.author.into(),
            author_id: model.author_id.map(Id),
            body: model.body,
            created_at: model.created_at,
        }
    }
}

#[ComplexObject(guard = "Allow(P::ReadConversations)")]
impl Message {
    /// The conversation it belongs to.
    #[graphql(visible = "crate::policy::visible::read_conversations")]
    async fn conversation(&self, ctx: &Context<'_>) -> GqlResult<Option<Conversation>> {
        Ok(ctx
            .loaders()?
            .load_one(ConversationId(self.conversation_id.0))
            .await
            .map_err(load_error)?
            .map(Conversation::from))
    }
}

#[derive(InputObject, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub channel: Option<ChannelKind>,
    /// Only conversations with this contact.
    pub contact_id: Option<ID>,
    /// Only conversations handled by this member.
    pub assignee_id: Option<ID>,
}

#[derive(InputObject)]
pub struct StartConversationInput {
    /// A contact of this organization.
    pub contact_id: ID,
    pub channel: ChannelKind,
    /// A member to handle it (people only; API keys leave it out).
    pub assignee_id: Option<ID>,
}

#[derive(InputObject)]
pub struct PostMessageInput {
    /// `AGENT` messages are written by the signed-in member; API keys post `CONTACT` or
    /// `AI` messages.
    pub author: MessageAuthor,
    /// 1–10,000 characters.
    pub body: String,
}

#[derive(Default)]
pub struct ConversationQuery;

#[Object]
impl ConversationQuery {
    /// The organization's conversations, most recently started first (`first` 1–100,
    /// default 20). VIEWER or higher; API keys need `conversations:read`.
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
        filter: Option<ConversationFilter>,
    ) -> GqlResult<Page<Conversation>> {
        Ok(service::list(
            ctx.request()?.tenant_with(P::ReadConversations)?,
            first,
            after,
            filter.unwrap_or_default(),
        )
        .await?)
    }

    /// One conversation; `NOT_FOUND` when this organization has none with this id.
    #[graphql(
        guard = "Allow(P::ReadConversations)",
        visible = "crate::policy::visible::read_conversations"
    )]
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Conversation>> {
        Ok(Some(
            service::get(ctx.request()?.tenant_with(P::ReadConversations)?, &id)
                .await?
                .into(),
        ))
    }
}

#[derive(Default)]
pub struct ConversationMutation;

#[Object]
impl ConversationMutation {
    /// Starts a conversation with a contact. MEMBER or higher, or an API key with
    /// `conversations:write`.
    #[graphql(
        guard = "Allow(P::WriteConversations)",
        visible = "crate::policy::visible::write_conversations"
    )]
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        input: StartConversationInput,
    ) -> GqlResult<Conversation> {
        Ok(
            service::start(ctx.request()?.tenant_with(P::WriteConversations)?, input)
                .await?
                .into(),
        )
    }

    /// Posts a message to an open conversation. MEMBER or higher, or an API key with
    /// `conversations:write`.
    #[graphql(
        guard = "Allow(P::WriteConversations)",
        visible = "crate::policy::visible::write_conversations"
    )]
    async fn post_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        input: PostMessageInput,
    ) -> GqlResult<Message> {
        Ok(service::post(
            ctx.request()?.tenant_with(P::WriteConversations)?,
            &conversation_id,
            input,
        )
        .await?
        .into())
    }

    /// Closes a conversation (closing a closed one changes nothing). MEMBER or higher, or
    /// an API key with `conversations:write`.
    #[graphql(
        guard = "Allow(P::WriteConversations)",
        visible = "crate::policy::visible::write_conversations"
    )]
    async fn close_conversation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Conversation> {
        Ok(
            service::close(ctx.request()?.tenant_with(P::WriteConversations)?, &id)
                .await?
                .into(),
        )
    }
}
