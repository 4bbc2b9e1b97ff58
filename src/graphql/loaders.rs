//! Per-request data loaders for nested fields (`Contact.owner`, `Contact.tags`,
//! `Contact.conversations`, `Conversation.contact`, `Conversation.messages`,
//! `Message.conversation`, …). Each is created for one request and bound to its
//! organization; nested fields of a whole page are gathered into one batched statement
//! (see `tenant::batch`), so a query's statement count does not grow with its rows.
//!
//! Batching does not depend on timing: a field that asks for a key registers it in the
//! open batch and yields once. The resolvers of a page's items are polled together, so by
//! the time the first of them runs again every sibling has registered its key, and one
//! load serves them all. (A delay-based loader splits batches whenever polling the
//! siblings takes longer than its delay, as it does under load.)
//!
//! The loaders hold a [`WeakTenantDb`]: they never keep the request's transaction alive,
//! and authorization stays with the fields, which ask the request for their role or scope
//! before they load.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use crate::error::AppError;
use crate::lock;
use crate::tenant::{PerParent, TenantDb, WeakTenantDb};
use entity::{contact, contact_tag, conversation, membership, message};

/// Loads many keys of one kind at once.
pub trait Loader<K>: Send + Sync {
    type Value: Clone + Send + Sync;
    fn load(
        &self,
        keys: &[K],
    ) -> impl Future<Output = Result<HashMap<K, Self::Value>, LoadError>> + Send;
}

/// The open batch of one key type.
pub struct Batcher<K, V> {
    open: Mutex<Option<Arc<Batch<K, V>>>>,
}

impl<K, V> Default for Batcher<K, V> {
    fn default() -> Self {
        Batcher {
            open: Mutex::new(None),
        }
    }
}

struct Batch<K, V> {
    keys: Mutex<Vec<K>>,
    result: tokio::sync::OnceCell<Result<HashMap<K, V>, LoadError>>,
}

impl<K: Clone + Eq + Hash + Send + Sync, V: Clone + Send + Sync> Batcher<K, V> {
    async fn load_one<L: Loader<K, Value = V>>(
        &self,
        loader: &L,
        key: K,
    ) -> Result<Option<V>, LoadError> {
        let batch = {
            let mut open = lock(&self.open);
            let batch = open
                .get_or_insert_with(|| {
                    Arc::new(Batch {
                        keys: Mutex::new(Vec::new()),
                        result: tokio::sync::OnceCell::new(),
                    })
                })
                .clone();
            lock(&batch.keys).push(key.clone());
            batch
        };
        // Let the siblings register their keys before the first of them loads.
        tokio::task::yield_now().await;
        let loaded = batch
            .result
            .get_or_init(|| async {
                {
                    let mut open = lock(&self.open);
                    if open.as_ref().is_some_and(|b| Arc::ptr_eq(b, &batch)) {
                        *open = None;
                    }
                }
                // Copied, not taken: should this waiter be dropped mid-load, the next one
                // loads the same keys. The batch is closed, so no key arrives any more.
                let mut seen = HashSet::new();
                let keys: Vec<K> = lock(&batch.keys)
                    .clone()
                    .into_iter()
                    .filter(|key| seen.insert(key.clone()))
                    .collect();
                loader.load(&keys).await
            })
            .await;
        match loaded {
            Ok(values) => Ok(values.get(&key).cloned()),
            Err(error) => Err(error.clone()),
        }
    }
}

/// The loaders of one request.
pub struct Loaders {
    loader: TenantLoader,
    contacts: Batcher<ContactId, contact::Model>,
    conversations: Batcher<ConversationId, conversation::Model>,
    members: Batcher<MemberId, (membership::Model, entity::user::Model)>,
    tags: Batcher<TagsOf, Vec<String>>,
    conversations_of: Batcher<ConversationsOf, NestedRows<conversation::Model>>,
    messages_of: Batcher<MessagesOf, NestedRows<message::Model>>,
}

/// Makes the loaders of a request bound to `db`'s organization.
pub fn loaders(db: &TenantDb) -> Loaders {
    Loaders {
        loader: TenantLoader { db: db.downgrade() },
        contacts: Batcher::default(),
        conversations: Batcher::default(),
        members: Batcher::default(),
        tags: Batcher::default(),
        conversations_of: Batcher::default(),
        messages_of: Batcher::default(),
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
batched!(
    ConversationsOf,
    NestedRows<conversation::Model>,
    conversations_of
);
batched!(MessagesOf, NestedRows<message::Model>, messages_of);

impl Loaders {
    /// The value of `key`, loaded together with its siblings'.
    pub async fn load_one<K>(
        &self,
        key: K,
    ) -> Result<Option<<Self as Batched<K>>::Value>, LoadError>
    where
        Self: Batched<K>,
        TenantLoader: Loader<K, Value = <Self as Batched<K>>::Value>,
        K: Clone + Eq + Hash + Send + Sync,
    {
        self.batcher().load_one(&self.loader, key).await
    }
}

/// Loads rows of the request's organization, many keys at a time.
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
    pub status: Option<&'static str>,
}

/// A page of a conversation's messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessagesOf {
    pub conversation: Uuid,
    pub page: PerParent,
}

/// Up to `limit + 1` rows of one parent (the extra row says there are more) and how many
/// rows the parent has in all.
#[derive(Clone, Debug)]
pub struct NestedRows<Row> {
    pub rows: Vec<Row>,
    pub total: u64,
}

fn by_key<K: Copy + Eq + std::hash::Hash, Row>(
    keys: &[K],
    rows: Vec<Row>,
    key_of: impl Fn(&Row) -> Uuid,
    wrap: impl Fn(Uuid) -> K,
) -> HashMap<K, Row> {
    let wanted: std::collections::HashSet<K> = keys.iter().copied().collect();
    rows.into_iter()
        .map(|row| (wrap(key_of(&row)), row))
        .filter(|(key, _)| wanted.contains(key))
        .collect()
}

impl Loader<ContactId> for TenantLoader {
    type Value = contact::Model;

    async fn load(&self, keys: &[ContactId]) -> Result<HashMap<ContactId, Self::Value>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.db()?.by_ids::<contact::Entity>(&ids).await?;
        Ok(by_key(keys, rows, |row| row.id, ContactId))
    }
}

impl Loader<ConversationId> for TenantLoader {
    type Value = conversation::Model;

    async fn load(
        &self,
        keys: &[ConversationId],
    ) -> Result<HashMap<ConversationId, Self::Value>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.db()?.by_ids::<conversation::Entity>(&ids).await?;
        Ok(by_key(keys, rows, |row| row.id, ConversationId))
    }
}

impl Loader<MemberId> for TenantLoader {
    type Value = (membership::Model, entity::user::Model);

    async fn load(&self, keys: &[MemberId]) -> Result<HashMap<MemberId, Self::Value>, LoadError> {
        let db = self.db()?;
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let memberships = db.by_ids::<membership::Entity>(&ids).await?;
        let members = db.with_users(memberships).await?;
        Ok(by_key(keys, members, |(m, _)| m.user_id, MemberId))
    }
}

impl Loader<TagsOf> for TenantLoader {
    type Value = Vec<String>;

    async fn load(&self, keys: &[TagsOf]) -> Result<HashMap<TagsOf, Self::Value>, LoadError> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = self.db()?.by_ids::<contact_tag::Entity>(&ids).await?;
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
    let mut groups: HashMap<G, Vec<Uuid>> = HashMap::new();
    for key in keys {
        groups
            .entry(group_of(key))
            .or_default()
            .push(parent_of(key));
    }
    groups
}

impl Loader<ConversationsOf> for TenantLoader {
    type Value = NestedRows<conversation::Model>;

    async fn load(
        &self,
        keys: &[ConversationsOf],
    ) -> Result<HashMap<ConversationsOf, Self::Value>, LoadError> {
        let db = self.db()?;
        let mut loaded = HashMap::new();
        for ((page, status), contacts) in
            groups(keys, |k| (k.page.clone(), k.status), |k| k.contact)
        {
            let filter = match status {
                Some(status) => Condition::all().add(conversation::Column::Status.eq(status)),
                None => Condition::all(),
            };
            let fetch = PerParent {
                limit: page.limit + 1,
                ..page.clone()
            };
            let rows = db
                .rows_per_parent::<conversation::Entity>(
                    conversation::Column::ContactId,
                    &contacts,
                    filter.clone(),
                    &fetch,
                )
                .await?;
            let totals = db
                .count_per_parent::<conversation::Entity>(
                    conversation::Column::ContactId,
                    &contacts,
                    filter,
                )
                .await?;
            let mut per_contact: HashMap<Uuid, Vec<conversation::Model>> = HashMap::new();
            for row in rows {
                per_contact.entry(row.contact_id).or_default().push(row);
            }
            for contact in contacts {
                loaded.insert(
                    ConversationsOf {
                        contact,
                        page: page.clone(),
                        status,
                    },
                    NestedRows {
                        rows: per_contact.remove(&contact).unwrap_or_default(),
                        total: totals.get(&contact).copied().unwrap_or(0),
                    },
                );
            }
        }
        Ok(loaded)
    }
}

impl Loader<MessagesOf> for TenantLoader {
    type Value = NestedRows<message::Model>;

    async fn load(
        &self,
        keys: &[MessagesOf],
    ) -> Result<HashMap<MessagesOf, Self::Value>, LoadError> {
        let db = self.db()?;
        let mut loaded = HashMap::new();
        for (page, conversations) in groups(keys, |k| k.page.clone(), |k| k.conversation) {
            let fetch = PerParent {
                limit: page.limit + 1,
                ..page.clone()
            };
            let rows = db
                .rows_per_parent::<message::Entity>(
                    message::Column::ConversationId,
                    &conversations,
                    Condition::all(),
                    &fetch,
                )
                .await?;
            let totals = db
                .count_per_parent::<message::Entity>(
                    message::Column::ConversationId,
                    &conversations,
                    Condition::all(),
                )
                .await?;
            let mut per_conversation: HashMap<Uuid, Vec<message::Model>> = HashMap::new();
            for row in rows {
                per_conversation
                    .entry(row.conversation_id)
                    .or_default()
                    .push(row);
            }
            for conversation in conversations {
                loaded.insert(
                    MessagesOf {
                        conversation,
                        page: page.clone(),
                    },
                    NestedRows {
                        rows: per_conversation.remove(&conversation).unwrap_or_default(),
                        total: totals.get(&conversation).copied().unwrap_or(0),
                    },
                );
            }
        }
        Ok(loaded)
    }
}
