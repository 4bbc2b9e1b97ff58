//! The rules of conversations: who may start, post and close, and what a message is.

use async_graphql::ID;
use chrono::Utc;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::{
    Conversation, ConversationFilter, MessageAuthor, PostMessageInput, StartConversationInput,
};
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{IdCursor, Page, newest_first, page_request};
use crate::identity::Actor;
use crate::input::parse_id;
use crate::tenant::TenantDb;
use entity::{contact, conversation, membership, message};

const MAX_BODY_CHARS: usize = 10_000;

pub async fn list(
    db: &TenantDb,
    first: Option<i32>,
    after: Option<String>,
    filter: ConversationFilter,
) -> AppResult<Page<Conversation>> {
    let request = page_request::<IdCursor>(first, after)?;
    let mut select = db.find::<conversation::Entity>();
    if let Some(status) = filter.status {
        select = select
            .filter(conversation::Column::Status.eq(entity::ConversationStatus::from(status)));
    }
    if let Some(channel) = filter.channel {
        select =
            select.filter(conversation::Column::Channel.eq(entity::ChannelKind::from(channel)));
    }
    if let Some(contact) = &filter.contact_id {
        select = select
            .filter(conversation::Column::ContactId.eq(parse_id("filter.contactId", contact)?));
    }
    if let Some(assignee) = &filter.assignee_id {
        select = select
            .filter(conversation::Column::AssigneeId.eq(parse_id("filter.assigneeId", assignee)?));
    }
    newest_first(db, select, &request, |row| row.id, Conversation::from).await
}

pub async fn get(db: &TenantDb, id: &ID) -> AppResult<conversation::Model> {
    db.get::<conversation::Entity>(parse_id("id", id)?).await
}

pub async fn start(db: &TenantDb, input: StartConversationInput) -> AppResult<conversation::Model> {
    // Another organization's contact is "not found", exactly like one that does not exist.
    let contact = db
        .get::<contact::Entity>(parse_id("contactId", &input.contact_id)?)
        .await?;
    let assignee = match &input.assignee_id {
        None => None,
        Some(id) => {
            crate::policy::require(db.actor(), crate::policy::Permission::AssignConversations)?;
            let member = db
                .get::<membership::Entity>(parse_id("assigneeId", id)?)
                .await?;
            Some(member.user_id)
        }
    };
    let now = Utc::now();
    Ok(db
        .insert(conversation::ActiveModel {
            organization_id: NotSet,
            id: Set(Uuid::now_v7()),
            contact_id: Set(contact.id),
            channel: Set(input.channel.into()),
            status: Set(entity::ConversationStatus::Open),
            assignee_id: Set(assignee),
            summary: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            closed_at: Set(None),
            last_message_at: Set(None),
        })
        .await?)
}

pub async fn post(
    db: &TenantDb,
    conversation_id: &ID,
    input: PostMessageInput,
) -> AppResult<message::Model> {
    let conversation = db
        .get::<conversation::Entity>(parse_id("conversationId", conversation_id)?)
        .await?;
    if conversation.status == entity::ConversationStatus::Closed {
        return Err(AppError::conflict(
            "conversationId",
            "the conversation is closed: start a new one",
        ));
    }
    let body = input.body.trim();
    if body.is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(AppError::invalid(
            "body",
            format!("must be at most {MAX_BODY_CHARS} characters"),
        ));
    }
    let author_id = match (input.author, db.actor()) {
        (MessageAuthor::Agent, Actor::Member(member)) => Some(member.user_id),
        (MessageAuthor::Agent, Actor::ApiKey { .. }) => {
            return Err(AppError::forbidden(
                "AGENT messages are written by members: an API key posts CONTACT or AI messages",
            ));
        }
        _ => None,
    };
    let now = Utc::now();
    let posted = db
        .insert(message::ActiveModel {
            organization_id: NotSet,
            id: Set(Uuid::now_v7()),
            conversation_id: Set(conversation.id),
            author: Set(input.author.into()),
            author_id: Set(author_id),
            body: Set(body.to_owned()),
            created_at: Set(now),
        })
        .await?;
    let mut row: conversation::ActiveModel = conversation.into();
    row.last_message_at = Set(Some(now));
    row.updated_at = Set(now);
    db.update(row).await?;
    Ok(posted)
}

pub async fn close(db: &TenantDb, id: &ID) -> AppResult<conversation::Model> {
    let conversation = get(db, id).await?;
    if conversation.status == entity::ConversationStatus::Closed {
        return Ok(conversation);
    }
    let now = Utc::now();
    let mut row: conversation::ActiveModel = conversation.into();
    row.status = Set(entity::ConversationStatus::Closed);
    row.closed_at = Set(Some(now));
    row.updated_at = Set(now);
    Ok(db.update(row).await?)
}
