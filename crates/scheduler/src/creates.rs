//! Batched creates: concurrent `CreateEntry` calls share one insert statement.
//!
//! Each create on its own is one autocommit statement (entries, entry_specs, due): at 2,000
//! creates a second, PostgreSQL spent about 0.25 ms of CPU on each, most of it the fixed cost
//! of a statement and a commit, and that left no CPU for claiming. Here creates queue up while
//! an insert is in flight, and each insert takes everything queued (up to [`MAX_BATCH`]): one
//! round trip, one commit and one WAL flush for the lot. A lone create does not wait for
//! company: it goes out at once when no insert is in flight.
//!
//! One insert in flight makes the largest batches (the fewest statements), but a slow one
//! (a WAL flush behind a checkpoint, a vacuum) would hold up every create behind it. So a
//! further insert starts when the newest one has been out for [`STAGGER`], up to [`WRITERS`]
//! (by default) at once: the queue never waits behind one stalled statement for long.
//!
//! A create is answered only after its statement committed. If a batch fails, each of its
//! creates is retried on its own, so one bad create cannot fail the others and each caller gets
//! its own error; unless the database is unreachable, which every one of them is told at once.

use crate::repo::{Entry, EntryState, NewEntry, Repo, RepoError};
use shopsync_common::EntrySpec;
use shopsync_store::DbErrorClass;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Inserts in flight at once at most, by default (`SHOPSYNC_CREATE_WRITERS`).
pub const WRITERS: usize = 4;
/// How long the newest insert is out before another one may start beside it.
pub const STAGGER: Duration = Duration::from_millis(2);
/// Creates in one insert.
pub const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<(Entry, bool), RepoError>>;

struct Pending {
    spec: EntrySpec,
    state: EntryState,
    request_id: Option<String>,
    reply: Reply,
}

/// The queue of creates; its writer task ends when the last handle is dropped.
#[derive(Clone)]
pub struct CreateBatcher {
    tx: mpsc::Sender<Pending>,
}

impl CreateBatcher {
    /// Start the writer task with up to `writers` inserts in flight (needs a Tokio runtime).
    pub fn start(repo: Repo, writers: usize) -> Self {
        let writers = writers.max(1);
        let (tx, rx) = mpsc::channel(MAX_BATCH * writers);
        tokio::spawn(run(repo, rx, writers));
        Self { tx }
    }

    /// Insert an entry: (the entry, whether it was created), as [`Repo::insert_entry`]
    /// without the NOTIFY.
    pub async fn insert(
        &self,
        spec: EntrySpec,
        state: EntryState,
        request_id: Option<&str>,
    ) -> Result<(Entry, bool), RepoError> {
        let (reply, answer) = oneshot::channel();
        let p = Pending { spec, state, request_id: request_id.map(str::to_owned), reply };
        let closed = || RepoError::Db(sqlx::Error::PoolClosed);
        self.tx.send(p).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(repo: Repo, mut rx: mpsc::Receiver<Pending>, writers: usize) {
    let slots = Arc::new(Semaphore::new(writers));
    let mut newest = Instant::now();
    while let Some(first) = rx.recv().await {
        // Wait until this insert may start before taking the queue, so that creates arriving
        // meanwhile join the batch: until no insert is out (all permits free), or the newest
        // has been out for STAGGER; and then for a free slot.
        if slots.available_permits() < writers {
            let wait = STAGGER.saturating_sub(newest.elapsed());
            let _ = tokio::time::timeout(wait, slots.acquire_many(writers as u32)).await;
        }
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let repo = repo.clone();
        newest = Instant::now();
        tokio::spawn(async move {
            write(&repo, batch).await;
            drop(permit);
        });
    }
}

async fn write(repo: &Repo, batch: Vec<Pending>) {
    let new: Vec<NewEntry<'_>> = batch
        .iter()
        .map(|p| NewEntry { spec: &p.spec, state: &p.state, request_id: p.request_id.as_deref() })
        .collect();
    let result = repo.insert_entries(&new, false).await;
    drop(new);
    match result {
        Ok(rows) => {
            for (p, r) in batch.into_iter().zip(rows) {
                let _ = p.reply.send(Ok(r));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(p) = batch.into_iter().next() {
                let _ = p.reply.send(Err(e));
            }
        }
        // The database is unreachable: one by one would only wait for it again, each.
        Err(e) if e.class() == DbErrorClass::Unavailable => {
            let e = Arc::new(e);
            for p in batch {
                let _ = p.reply.send(Err(RepoError::Batch(e.clone())));
            }
        }
        Err(e) => {
            tracing::warn!(error = ?e, creates = batch.len(), "a batched create failed; inserting one by one");
            for p in batch {
                let r = repo.insert_entry(&p.spec, &p.state, p.request_id.as_deref(), false).await;
                let _ = p.reply.send(r);
            }
        }
    }
}
