//! `SUMMARIZE_CONVERSATIONS`: fills the missing summaries of closed conversations.
//!
//! The summarizer is a trait so a deployment can plug in another one (a language model
//! behind a queue, say); the built-in one is extractive and deterministic: the same
//! messages always give the same summary, which keeps the job testable and cheap.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::OrganizationId;
use crate::error::AppResult;
use crate::tenant::Database;
use entity::MessageAuthor;
use entity::{conversation, message};

/// Conversations summarized per organization and run; the next run takes the rest.
const BATCH: u64 = 500;
/// Characters quoted from a message.
const QUOTE_CHARS: usize = 160;

/// Turns a closed conversation's messages into a summary.
pub trait Summarizer: Send + Sync {
    /// The summary, or `None` to leave the conversation for a later run.
    fn summarize(&self, messages: &[message::Model]) -> Option<String>;
}

/// Counts who spoke and quotes how the conversation opened and how it ended.
pub struct Extractive;

fn quote(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= QUOTE_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(QUOTE_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

impl Summarizer for Extractive {
    fn summarize(&self, messages: &[message::Model]) -> Option<String> {
        let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
            return Some("Closed without messages.".to_owned());
        };
        let count = |author: MessageAuthor| messages.iter().filter(|m| m.author == author).count();
        let mut summary = format!(
            "{} messages ({} from the contact, {} from agents, {} from the AI). Opened with: \"{}\"",
            messages.len(),
            count(MessageAuthor::Contact),
            count(MessageAuthor::Agent),
            count(MessageAuthor::Ai),
            quote(&first.body)
        );
        if messages.len() > 1 {
            summary.push_str(&format!(" Last: \"{}\"", quote(&last.body)));
        }
        Some(summary)
    }
}

/// Summarizes up to `BATCH` closed conversations without a summary, in one
/// transaction bound to the organization.
#[tracing::instrument(skip(db, summarizer))]
pub async fn organization(
    db: &Database,
    organization: OrganizationId,
    summarizer: &dyn Summarizer,
) -> AppResult<u64> {
    let tx = db.system_transaction(Some(organization)).await?;
    let pending = conversation::Entity::find()
        .filter(conversation::Column::OrganizationId.eq(organization))
        .filter(conversation::Column::Status.eq(entity::ConversationStatus::Closed))
        .filter(conversation::Column::Summary.is_null())
        .order_by_asc(conversation::Column::Id)
        .limit(BATCH)
        .all(tx.connection())
        .await?;
    if pending.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let ids: Vec<_> = pending.iter().map(|c| c.id).collect();
    let mut by_conversation: HashMap<_, Vec<message::Model>> = HashMap::new();
    for message in message::Entity::find()
        .filter(message::Column::OrganizationId.eq(organization))
        .filter(message::Column::ConversationId.is_in(ids))
        .order_by_asc(message::Column::Id)
        .all(tx.connection())
        .await?
    {
        by_conversation
            .entry(message.conversation_id)
            .or_default()
            .push(message);
    }
    let mut summarized = 0;
    for conversation in pending {
        let messages = by_conversation.remove(&conversation.id).unwrap_or_default();
        let Some(summary) = summarizer.summarize(&messages) else {
            continue;
        };
        summarized += conversation::Entity::update_many()
            .col_expr(conversation::Column::Summary, Expr::value(summary))
            .filter(conversation::Column::OrganizationId.eq(organization))
            .filter(conversation::Column::Id.eq(conversation.id))
            .filter(conversation::Column::Summary.is_null())
            .exec(tx.connection())
            .await?
            .rows_affected;
    }
    tx.commit().await?;
    Ok(summarized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(author: MessageAuthor, body: &str) -> message::Model {
        message::Model {
            organization_id: uuid::Uuid::nil(),
            id: uuid::Uuid::now_v7(),
            conversation_id: uuid::Uuid::nil(),
            author,
            author_id: None,
            body: body.into(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_extractive_summary_counts_and_quotes() {
        let messages = [
            message(MessageAuthor::Contact, "Where is   my order?"),
            message(MessageAuthor::Agent, "Checking."),
            message(MessageAuthor::Ai, &"Tomorrow. ".repeat(40)),
        ];
        let summary = Extractive.summarize(&messages).expect("a summary");
        assert!(summary.starts_with("3 messages (1 from the contact, 1 from agents, 1 from the AI). Opened with: \"Where is my order?\" Last: \"Tomorrow."));
        assert!(summary.ends_with("…\""));
        assert_eq!(Extractive.summarize(&messages), Some(summary));
        assert_eq!(
            Extractive.summarize(&[]).as_deref(),
            Some("Closed without messages.")
        );
    }
}
