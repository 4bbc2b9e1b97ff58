//! Per-request data loaders for nested fields (`Contact.owner`, `Contact.tags`,
//! `Contact.conversations`, `Conversation.contact`, `Conversation.messages`,
//! `Message.conversation`, …). Each is created for one request and bound to its
//! organization; nested fields of a whole page are gathered into one batched statement
//! (see `tenant::batch`), so a query's statement count does not grow with its rows.
//!
//! Batching does not depend on timing: a field that asks for a key registers it in the
//! open batch and waits; the batch is sent only when nothing else in the request can
//! make progress (`graphql::batching`), so every sibling has registered its key by then.
//! Counts (`totalCount` of a nested page) are loaders of their own, run only when a
//! client selects them.
//!
//! The loaders hold a [`WeakTenantDb`]: they never keep the request's transaction alive,
//! and authorization stays with the fields, which ask the request for their role or scope
//! before they load.

use super::batching::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use super::batching::{BatchLoad, Batcher, Dispatcher};
use crate::error::AppError;
use crate::tenant::{PerParent, TenantDb, WeakTenantDb};
use entity::{contact, contact_tag, conversation, membership, message};

/// The loaders of one request.
pub struct Loaders {
    loader: TenantLoader,
    dispatcher: Arc<Dispatcher>,
    contacts: Batcher<ContactId, contact::Model>,
    conversations: Batcher<ConversationId, conversation::Model>,
    members: Batcher<MemberId, (membership::Model, entity::user::Model)>,
    tags: Batcher<TagsOf, Vec<String>>,
    conversations_of: Batcher<ConversationsOf, Vec<conversation::Model>>,
    conversation_counts: Batcher<ConversationCount, u64>,
    messages_of: Batcher<MessagesOf, Vec<message::Model>>,
    message_counts: Batcher<MessageCount, u64>,
}

/// Makes the loaders of a request bound to `db`'s organization. Their batches are sent
/// by [`batching`](super::batching::batching) around the request's execution, with
/// [`Loaders::dispatcher`].
pub fn loaders(db: &TenantDb) -> Loaders {
    Loaders {
        loader: TenantLoader { db: db.downgrade() },
        dispatcher: Arc::default(),
        contacts: Batcher::default(),
        conversations: Batcher::default(),
        members: Batcher::default(),
        tags: Batcher::default(),
        conversations_of: Batcher::default(),
        conversation_counts: Batcher::default(),
        messages_of: Batcher::default(),
        message_counts: Batcher::default(),
    }
}

/// A key type with its batcher in [`Loaders`].
pub trait Batched<K>: Sized {
    type Value: Clone + Send + Sync;
    fn batcher(&self) -> &Batcher<K, Self::Value>;
}

macro_rules! batched {
    ($key:ty, $value:ty, $field:ident) => {
        impl Batched<$key> for Loaders {
            type Value = $value;
            fn batcher(&self) -> &Batcher<$key, $value> {
                &self.$field
            }
        }
    };
}

batched!(ContactId, contact::Model, contacts);
batched!(ConversationId, conversation::Model, conversations);
batched!(MemberId, (membership::Model, entity::user::Model), members);
batched!(TagsOf, Vec<String>, tags);
batched!(ConversationsOf, Vec<conversation::Model>, conversations_of);
batched!(ConversationCount, u64, conversation_counts);
batched!(MessagesOf, Vec<message::Model>, messages_of);
batched!(MessageCount, u64, message_counts);

impl Loaders {
    /// The value of `key`, loaded together with its siblings'.
    pub async fn load_one<K>(
        &self,
        key: K,
    ) -> Result<Option<<Self as Batched<K>>::Value>, LoadError>
    where
        Self: Batched<K>,
        TenantLoader: BatchLoad<K, <Self as Batched<K>>::Value>,
        K: Clone + Eq + Hash + Send + Sync + 'static,
        <Self as Batched<K>>::Value: 'static,
    {
        self.batcher()
            .load_one(&self.dispatcher, &self.loader, key)
            .await
    }

    /// What sends this request's batches (see `graphql::batching`).
    pub fn dispatcher(&self) -> Arc<Dispatcher> {
        self.dispatcher.clone()
    }
}

/// Loads rows of the request's organization, many keys at a time.
#[derive(Clone)]
pub struct TenantLoader {
    db: WeakTenantDb,
}

/// Loader failures are database failures: clonable for the loader, masked for clients.
pub type LoadError = Arc<AppError>;

impl TenantLoader {
    fn db(&self) -> Result<TenantDb, LoadError> {
        self.db.upgrade().ok_or_else(|| {
            Arc::new(AppError::internal(anyhow::anyhow!(
                "a loader ran after its request ended"
            )))
        })
    }
}

/// Turns a loader's shared error into the request's error.
pub fn load_error(error: LoadError) -> AppError {
    AppError::internal(anyhow::anyhow!("loading a nested field: {error}"))
}

/// A contact by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContactId(pub Uuid);

/// A conversation by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConversationId(pub Uuid);

/// A member (with their user row) by user id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberId(pub Uuid);

/// The tags of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TagsOf(pub Uuid);

/// A page of a contact's conversations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConversationsOf {
    pub contact: Uuid,
    pub page: PerParent,
    /// `open` or `closed`, or every status.
    pub status: Option<entity::ConversationStatus>,
}

/// How many conversations a contact has (with this status, or in all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConversationCount {
    pub contact: Uuid,
    pub status: Option<entity::ConversationStatus>,
}

/// How many messages a conversation has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageCount(pub Uuid);

/// A page of a conversation's messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessagesOf {
    pub conversation: Uuid,
    pub page: PerParent,
}

fn by_key<K: Copy + Eq + std::hash::Hash, Row>(
    keys: &[K],
    rows: Vec<Row>,
    key_of: impl Fn(&Row) -> Uuid,
    wrap: impl Fn(Uuid) -> K,
) -> HashMap<K, Row> {
    let wanted: std::collections::HashSet<K, foldhash::fast::RandomState> =
        keys.iter().copied().collect();
    rows.into_iter()
        .map(|row| (wrap(key_of(&row)), row))
        .filter(|(key, _)| wanted.contains(key))
        .collect()
}

impl BatchLoad<ContactId, contact::Model> for TenantLoader {
    async fn load(
        self,
        keys: Vec<ContactId>,
    ) -> Result<HashMap<ContactId, contact::Model>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.db()?.by_ids::<contact::Entity>(&ids).await?;
        Ok(by_key(&keys, rows, |row| row.id, ContactId))
    }
}

impl BatchLoad<ConversationId, conversation::Model> for TenantLoader {
    async fn load(
        self,
        keys: Vec<ConversationId>,
    ) -> Result<HashMap<ConversationId, conversation::Model>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.db()?.by_ids::<conversation::Entity>(&ids).await?;
        Ok(by_key(&keys, rows, |row| row.id, ConversationId))
    }
}

impl BatchLoad<MemberId, (membership::Model, entity::user::Model)> for TenantLoader {
    async fn load(
        self,
        keys: Vec<MemberId>,
    ) -> Result<HashMap<MemberId, (membership::Model, entity::user::Model)>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let members = self.db()?.members_by_user_ids(&ids).await?;
        Ok(by_key(&keys, members, |(m, _)| m.user_id, MemberId))
    }
}

impl BatchLoad<TagsOf, Vec<String>> for TenantLoader {
    async fn load(self, keys: Vec<TagsOf>) -> Result<HashMap<TagsOf, Vec<String>>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self
            .db()?
            .rows_of_parents::<contact_tag::Entity>(contact_tag::Column::ContactId, &ids)
            .await?;
        let mut tags: HashMap<TagsOf, Vec<String>> =
            keys.iter().map(|key| (*key, Vec::new())).collect();
        for row in rows {
            if let Some(list) = tags.get_mut(&TagsOf(row.contact_id)) {
                list.push(row.tag);
            }
        }
        for list in tags.values_mut() {
            list.sort();
        }
        Ok(tags)
    }
}

/// Groups nested-page keys by everything but the parent, so each group is one statement.
fn groups<K, G: Clone + Eq + std::hash::Hash>(
    keys: &[K],
    group_of: impl Fn(&K) -> G,
    parent_of: impl Fn(&K) -> Uuid,
) -> HashMap<G, Vec<Uuid>> {
    let mut groups: HashMap<G, Vec<Uuid>> = HashMap::default();
    for key in keys {
        groups
            .entry(group_of(key))
            .or_default()
            .push(parent_of(key));
    }
    groups
}

fn status_filter(status: Option<entity::ConversationStatus>) -> Condition {
    match status {
        Some(status) => Condition::all().add(conversation::Column::Status.eq(status)),
        None => Condition::all(),
    }
}

impl BatchLoad<ConversationsOf, Vec<conversation::Model>> for TenantLoader {
    async fn load(
        self,
        keys: Vec<ConversationsOf>,
    ) -> Result<HashMap<ConversationsOf, Vec<conversation::Model>>, LoadError> {
        let db = self.db()?;
        let mut loaded = HashMap::default();
        for ((page, status), contacts) in
            groups(&keys, |k| (k.page.clone(), k.status), |k| k.contact)
        {
            let mut per_contact = db
                .rows_per_parent::<conversation::Entity>(
                    conversation::Column::ContactId,
                    &contacts,
                    status_filter(status),
                    &page,
                    |row| (row.contact_id, row.id),
                )
                .await?;
            for contact in contacts {
                let rows = per_contact.remove(&contact).unwrap_or_default();
                let key = ConversationsOf {
                    contact,
                    page: page.clone(),
                    status,
                };
                loaded.insert(key, rows);
            }
        }
        Ok(loaded)
    }
}

impl BatchLoad<ConversationCount, u64> for TenantLoader {
    async fn load(
        self,
        keys: Vec<ConversationCount>,
    ) -> Result<HashMap<ConversationCount, u64>, LoadError> {
        let db = self.db()?;
        let mut loaded = HashMap::default();
        for (status, contacts) in groups(&keys, |k| k.status, |k| k.contact) {
            let totals = db
                .count_per_parent::<conversation::Entity>(
                    conversation::Column::ContactId,
                    &contacts,
                    status_filter(status),
                )
                .await?;
            for contact in contacts {
                let total = totals.get(&contact).copied().unwrap_or(0);
                loaded.insert(ConversationCount { contact, status }, total);
            }
        }
        Ok(loaded)
    }
}

impl BatchLoad<MessagesOf, Vec<message::Model>> for TenantLoader {
    async fn load(
        self,
        keys: Vec<MessagesOf>,
    ) -> Result<HashMap<MessagesOf, Vec<message::Model>>, LoadError> {
        let db = self.db()?;
        let mut loaded = HashMap::default();
        for (page, conversations) in groups(&keys, |k| k.page.clone(), |k| k.conversation) {
            let mut per_conversation = db
                .rows_per_parent::<message::Entity>(
                    message::Column::ConversationId,
                    &conversations,
                    Condition::all(),
                    &page,
                    |row| (row.conversation_id, row.id),
                )
                .await?;
            for conversation in conversations {
                let rows = per_conversation.remove(&conversation).unwrap_or_default();
                let key = MessagesOf {
                    conversation,
                    page: page.clone(),
                };
                loaded.insert(key, rows);
            }
        }
        Ok(loaded)
    }
}

impl BatchLoad<MessageCount, u64> for TenantLoader {
    async fn load(self, keys: Vec<MessageCount>) -> Result<HashMap<MessageCount, u64>, LoadError> {
        let conversations: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let totals = self
            .db()?
            .count_per_parent::<message::Entity>(
                message::Column::ConversationId,
                &conversations,
                Condition::all(),
            )
            .await?;
        Ok(keys
            .iter()
            .map(|key| (*key, totals.get(&key.0).copied().unwrap_or(0)))
            .collect())
    }
}

/// A nested page's `totalCount`, loaded with its siblings' when selected.
pub struct NestedCount<K>(pub K);

impl<K> crate::graphql::pagination::Counter for NestedCount<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    Loaders: Batched<K, Value = u64>,
    TenantLoader: BatchLoad<K, u64>,
{
    fn count<'a>(
        &'a self,
        ctx: &'a async_graphql::Context<'_>,
    ) -> futures_util::future::BoxFuture<'a, crate::error::AppResult<u64>> {
        use super::ContextExt;
        Box::pin(async move {
            Ok(ctx
                .loaders()?
                .load_one(self.0.clone())
                .await
                .map_err(load_error)?
                .unwrap_or(0))
        })
    }
}
