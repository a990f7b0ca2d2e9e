//! The master data sales documents are built from: the keys a call's documents name, what
//! was read for them, and the process cache of it, valid for one master epoch.

use crate::error::Result;
use crate::repo::documents::{self, CustomerForSale, ItemForSale};
use shopsync_proto::pb;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What the documents of one call refer to, and the master epoch (see the migration
/// `posting_master_epoch`) it is valid for.
pub struct Refs {
    pub customers: HashMap<String, Arc<CustomerForSale>>,
    pub items: HashMap<String, Arc<ItemForSale>>,
    pub locations: HashSet<String>,
    /// Posted invoices credit memos apply to (they are never deleted, so a cached one stays).
    pub invoices: HashSet<String>,
    pub epoch: i64,
}

/// The master data keys the documents of one call refer to (sorted, distinct, no blanks).
pub struct Keys {
    customers: Vec<String>,
    items: Vec<String>,
    locations: Vec<String>,
    invoices: Vec<String>,
}

impl Keys {
    pub fn of(docs: &[&pb::SalesDocument]) -> Keys {
        let mut k = Keys {
            customers: Vec::new(),
            items: Vec::new(),
            locations: Vec::new(),
            invoices: Vec::new(),
        };
        for d in docs {
            k.customers.push(d.sell_to_customer_no.clone());
            k.customers.push(d.bill_to_customer_no.clone());
            k.invoices.push(d.applies_to_doc_no.clone());
            for l in &d.lines {
                k.items.push(l.item_no.clone());
                k.locations.push(l.location_code.clone());
            }
        }
        for v in [&mut k.customers, &mut k.items, &mut k.locations, &mut k.invoices] {
            v.retain(|x| !x.is_empty());
            v.sort();
            v.dedup();
        }
        k
    }
}

/// Master data for building sales documents, cached in the process. Entries are valid for one
/// master epoch; a document built from them is written only if the epoch is unchanged (checked
/// in the same statement), otherwise the cache is dropped and the document is built again from
/// a fresh read. Only what exists is cached: an unknown key always goes to the database.
/// Entries are shared (`Arc`), so a cached create copies no master data.
#[derive(Default)]
pub struct RefCache(std::sync::Mutex<Cached>);

#[derive(Default)]
struct Cached {
    epoch: i64,
    customers: HashMap<String, Arc<CustomerForSale>>,
    items: HashMap<String, Arc<ItemForSale>>,
    locations: HashSet<String>,
    invoices: HashSet<String>,
}

/// Entries kept before the cache starts over (items, customers and locations together).
const CACHE_MAX: usize = 100_000;

impl RefCache {
    fn state(&self) -> std::sync::MutexGuard<'_, Cached> {
        // Plain data: a panic elsewhere cannot leave it half-updated in a harmful way.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything `keys` names, if all of it is cached.
    pub fn lookup(&self, keys: &Keys) -> Option<Refs> {
        let c = self.state();
        if c.epoch == 0 {
            return None;
        }
        let mut refs = Refs {
            customers: HashMap::with_capacity(keys.customers.len()),
            items: HashMap::with_capacity(keys.items.len()),
            locations: HashSet::with_capacity(keys.locations.len()),
            invoices: HashSet::with_capacity(keys.invoices.len()),
            epoch: c.epoch,
        };
        for k in &keys.customers {
            refs.customers.insert(k.clone(), c.customers.get(k)?.clone());
        }
        for k in &keys.items {
            refs.items.insert(k.clone(), c.items.get(k)?.clone());
        }
        for k in &keys.locations {
            if !c.locations.contains(k) {
                return None;
            }
            refs.locations.insert(k.clone());
        }
        for k in &keys.invoices {
            if !c.invoices.contains(k) {
                return None;
            }
            refs.invoices.insert(k.clone());
        }
        Some(refs)
    }

    pub fn store(&self, refs: &Refs) {
        let mut c = self.state();
        let size = c.customers.len() + c.items.len() + c.locations.len() + c.invoices.len();
        if refs.epoch != c.epoch || size > CACHE_MAX {
            *c = Cached { epoch: refs.epoch, ..Cached::default() };
        }
        c.customers.extend(refs.customers.iter().map(|(k, v)| (k.clone(), v.clone())));
        c.items.extend(refs.items.iter().map(|(k, v)| (k.clone(), v.clone())));
        c.locations.extend(refs.locations.iter().cloned());
        c.invoices.extend(refs.invoices.iter().cloned());
    }

    pub fn clear(&self) {
        *self.state() = Cached::default();
    }
}

/// Read what `keys` names, with the current master epoch, in one round trip.
pub async fn load_refs(pool: &PgPool, keys: &Keys) -> Result<Refs> {
    let r =
        documents::load_refs(pool, &keys.customers, &keys.items, &keys.locations, &keys.invoices)
            .await?;
    Ok(Refs {
        customers: r.customers.0.into_iter().map(|c| (c.no.clone(), Arc::new(c))).collect(),
        items: r.items.0.into_iter().map(|i| (i.no.clone(), Arc::new(i))).collect(),
        locations: r.locations.into_iter().collect(),
        invoices: r.invoices.into_iter().collect(),
        epoch: r.epoch,
    })
}
