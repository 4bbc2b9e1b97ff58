//! Batches that never split: a data loader's batch is sent when the request can make no
//! other progress, not after a timer or a single yield.
//!
//! The nested fields of a page (a contact's tags, owner, conversations; a conversation's
//! messages) each ask their loader for one key. One statement should serve every key of
//! the page, so a batch must stay open until every sibling has asked. A timer splits the
//! batch whenever polling the siblings takes longer than the timer (as it does under
//! load); a single `yield_now` splits it whenever the executor polls the first field
//! again before the last sibling (tokio's cooperative budget and the fairness rules of
//! nested `FuturesUnordered` both allow that, and under load it happened).
//!
//! [`Batching`] drives the request's execution instead: it polls the execution with a
//! waker of its own and, only when the execution returns `Pending` without having woken
//! itself (every field is waiting on something), sends the open batches and drives their
//! loads. A field that can still register a key has therefore always done so before its
//! batch is sent, whatever the load. The execution runs `unconstrained` so that tokio's
//! budget never makes a ready future look stalled (its yield wakes later, by deferral).
//!
//! Why our own piece: the `dataloader` crate batches by yielding a fixed number of times,
//! the property this replaces; nothing in async-graphql or tokio sends work "when the
//! task is otherwise idle".

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

/// The maps of a batch and of its loads, keyed by row ids and page requests. With the
/// standard hasher (SipHash) hashing was a tenth of a dashboard's work: a key is hashed
/// about six times on its way through a batch. foldhash is seeded once per process, so
/// keys a client picks cannot be aimed at one bucket ahead of time.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::lock;

type Load = Pin<Box<dyn Future<Output = ()> + Send>>;
type Starter = Box<dyn FnOnce() -> Load + Send>;

/// The batches a request has opened and not yet sent.
#[derive(Default)]
pub struct Dispatcher {
    starters: Mutex<Vec<Starter>>,
}

impl Dispatcher {
    fn enqueue(&self, starter: Starter) {
        lock(&self.starters).push(starter);
    }

    fn take(&self) -> Vec<Starter> {
        std::mem::take(&mut *lock(&self.starters))
    }
}

/// Drives `execution` and sends the dispatcher's batches whenever it stalls.
pub fn batching<F: Future>(dispatcher: Arc<Dispatcher>, execution: F) -> Batching<F> {
    let signal = Arc::new(Signal::default());
    Batching {
        execution: Box::pin(tokio::task::unconstrained(execution)),
        dispatcher,
        loads: FuturesUnordered::new(),
        waker: Waker::from(signal.clone()),
        signal,
    }
}

/// See [`batching`].
pub struct Batching<F> {
    execution: Pin<Box<tokio::task::Unconstrained<F>>>,
    dispatcher: Arc<Dispatcher>,
    loads: FuturesUnordered<Load>,
    signal: Arc<Signal>,
    waker: Waker,
}

/// The execution's waker: remembers that it was woken and passes the wake on.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(waker) = lock(&self.outer).as_ref() {
            waker.wake_by_ref();
        }
    }
}

impl<F: Future> Future for Batching<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut outer = lock(&this.signal.outer);
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        loop {
            while let Poll::Ready(Some(())) = this.loads.poll_next_unpin(cx) {}
            this.signal.woken.store(false, Ordering::Release);
            let mut inner = Context::from_waker(&this.waker);
            if let Poll::Ready(output) = this.execution.as_mut().poll(&mut inner) {
                return Poll::Ready(output);
            }
            if this.signal.woken.load(Ordering::Acquire) {
                // Still busy: the wake already asked the runtime to poll again.
                return Poll::Pending;
            }
            let starters = this.dispatcher.take();
            if starters.is_empty() {
                return Poll::Pending;
            }
            this.loads.extend(starters.into_iter().map(|start| start()));
        }
    }
}

/// One batch of keys of one kind, and its result once loaded.
pub struct Batch<K, V> {
    /// `None` once sent: a key that comes later opens the next batch.
    keys: Mutex<Option<Vec<K>>>,
    result: OnceLock<Values<K, V>>,
    waiters: Mutex<Vec<Waker>>,
}

/// A loaded value and how many of the batch's callers have yet to take it: the last one
/// takes it without a copy (a key is usually asked for once, and values such as a
/// conversation's messages are whole rows).
struct Loaded<V> {
    askers: usize,
    value: V,
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

/// How a batch is loaded: once, for all its keys, off the request's borrow.
pub trait BatchLoad<K, V>: Clone + Send + Sync + 'static {
    fn load(
        self,
        keys: Vec<K>,
    ) -> impl Future<Output = Result<HashMap<K, V>, super::loaders::LoadError>> + Send;
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Adds `key` to the open batch (opening one if needed) and waits for its value.
    pub async fn load_one<L: BatchLoad<K, V>>(
        &self,
        dispatcher: &Dispatcher,
        loader: &L,
        key: K,
    ) -> Result<Option<V>, super::loaders::LoadError> {
        let batch = {
            let mut open = lock(&self.open);
            let joined = open.as_ref().and_then(|batch| {
                let mut keys = lock(&batch.keys);
                keys.as_mut().map(|keys| keys.push(key.clone()))?;
                Some(batch.clone())
            });
            match joined {
                Some(batch) => batch,
                None => {
                    let batch = Arc::new(Batch {
                        keys: Mutex::new(Some(vec![key.clone()])),
                        result: OnceLock::new(),
                        waiters: Mutex::new(Vec::new()),
                    });
                    *open = Some(batch.clone());
                    dispatcher.enqueue(starter(batch.clone(), loader.clone()));
                    batch
                }
            }
        };
        let result = Wait {
            batch: &batch,
            registered: None,
        }
        .await;
        let mut values = lock(result.as_ref().map_err(Clone::clone)?);
        Ok(match values.get_mut(&key) {
            None => None,
            Some(loaded) if loaded.askers > 1 => {
                loaded.askers -= 1;
                Some(loaded.value.clone())
            }
            Some(_) => values.remove(&key).map(|loaded| loaded.value),
        })
    }
}

fn starter<K, V, L>(batch: Arc<Batch<K, V>>, loader: L) -> Starter
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Send + Sync + 'static,
    L: BatchLoad<K, V>,
{
    Box::new(move || {
        let keys = lock(&batch.keys).take().unwrap_or_default();
        let mut askers: HashMap<K, usize> =
            HashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for key in keys {
            *askers.entry(key).or_default() += 1;
        }
        let keys = askers.keys().cloned().collect();
        Box::pin(async move {
            let result = loader.load(keys).await.map(|values| {
                let loaded = values.into_iter().filter_map(|(key, value)| {
                    let askers = *askers.get(&key)?;
                    Some((key, Loaded { askers, value }))
                });
                Mutex::new(loaded.collect())
            });
            // Only this load sets the result.
            let _ = batch.result.set(result);
            for waker in std::mem::take(&mut *lock(&batch.waiters)) {
                waker.wake();
            }
        })
    })
}

/// Waits for a batch's result.
struct Wait<'a, K, V> {
    batch: &'a Arc<Batch<K, V>>,
    /// The waker this wait left with the batch: a field joined with its siblings is
    /// polled whenever any of them is, and need not leave the same waker twice.
    registered: Option<Waker>,
}

type Values<K, V> = Result<Mutex<HashMap<K, Loaded<V>>>, super::loaders::LoadError>;

impl<'a, K, V> Future for Wait<'a, K, V> {
    type Output = &'a Values<K, V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let batch = this.batch;
        if let Some(result) = batch.result.get() {
            return Poll::Ready(result);
        }
        if this
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        // Checked again under the lock the load takes to wake, so no wake is lost.
        let mut waiters = lock(&batch.waiters);
        if let Some(result) = batch.result.get() {
            return Poll::Ready(result);
        }
        waiters.push(cx.waker().clone());
        this.registered = Some(cx.waker().clone());
        Poll::Pending
    }
}
