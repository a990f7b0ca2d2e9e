//! shopsync-inventory-sync: the inventory-sync service. Owns the `inventory` schema (what it
//! knows of each Shopify level, the stock feed's cursor per shop, the push in flight, drift)
//! and serves gRPC `Worker` for SyncInventory and the built-in test task, and `Stock` (the
//! preview, drift, a level's history: [`grpc`]).
//!
//! Stock reaches Shopify two ways: continuously ([`follow`]: the posting service's stock feed,
//! pushed within about a second of a change, no job needed), and by the SyncInventory task
//! ([`reconcile`]: ERP stock against Shopify's levels, repairing drift). Both write through
//! [`push`]; [`map`] says which quantity name and why.

pub mod bulk;
pub mod config;
pub mod discover;
pub mod error;
pub mod follow;
pub mod grpc;
pub mod map;
pub mod push;
pub mod reconcile;
pub mod repo;

use anyhow::Context;
pub use config::Config;
pub use error::Failure;
use shopsync_common::{Service, Task, TaskParams};
use shopsync_proto::pb;
use shopsync_runtime::shop::{ShopContext, ShopContexts};
use shopsync_runtime::worker::{RunContext, TaskError, TaskFuture, TaskRunner};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

pub const SERVICE: Service = Service::InventorySync;

/// inventory-sync's migrations (the `inventory` schema).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
pub static SCHEMA: shopsync_store::Schema =
    shopsync_store::Schema { name: "inventory", migrator: &MIGRATOR };

/// One writer per shop in this process: the follower's rounds and SyncInventory runs never
/// write the same shop's levels at once (the compare-and-swap would still keep them right,
/// but each would take the other's writes for drift). Replicas: see ARCHITECTURE.md.
#[derive(Clone, Default)]
pub struct ShopLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl ShopLocks {
    pub fn of(&self, shop: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(shop.to_owned()).or_default().clone()
    }
}

/// inventory-sync's tasks.
pub struct InventoryTasks {
    pub db: PgPool,
    pub locks: ShopLocks,
}

impl TaskRunner for InventoryTasks {
    fn tasks(&self) -> Vec<Task> {
        vec![Task::SyncInventory]
    }

    fn run(&self, ctx: RunContext) -> TaskFuture {
        let db = self.db.clone();
        let locks = self.locks.clone();
        Box::pin(async move {
            let shop = ctx.shop_context()?.clone();
            match &ctx.params {
                TaskParams::SyncInventory(p) => {
                    Ok(reconcile::run(&ctx, &shop, &db, &locks, p).await?)
                }
                _ => Err(TaskError::NotImplemented { task: ctx.task, service: SERVICE }),
            }
        })
    }
}

/// The inventory item of each linked (item, variant) of the shop.
pub(crate) async fn links_by_erp(
    ctx: &ShopContext,
    shop: &str,
    keys: BTreeSet<(String, String)>,
) -> Result<HashMap<(String, String), String>, Failure> {
    let mut out = HashMap::new();
    let keys: Vec<_> = keys.into_iter().collect();
    for chunk in keys.chunks(1000) {
        let r = ctx
            .shops
            .clone()
            .lookup_links(pb::LookupLinksRequest {
                shop: shop.to_owned(),
                kind: pb::LinkKind::Item as i32,
                erp_keys: chunk
                    .iter()
                    .map(|(i, v)| pb::ErpKey { erp_id: i.clone(), erp_variant: v.clone() })
                    .collect(),
                shopify_ids: Vec::new(),
            })
            .await
            .map_err(|s| Failure::Api("looking up item links", s))?
            .into_inner();
        for l in r.links {
            if !l.shopify_inventory_item_id.is_empty() {
                out.insert((l.erp_id, l.erp_variant), l.shopify_inventory_item_id);
            }
        }
    }
    Ok(out)
}

/// Connect (and migrate) the database, start the stock followers, serve `Worker` and `Stock`
/// until `shutdown`.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Config { sync, stock_poll_ms, stock_shops_refresh_ms, stock_follow } = cfg;
    let cfg = sync.worker;
    if cfg.database_url.trim().is_empty() {
        // Without its state it cannot push safely: it serves the test task only and refuses
        // SyncInventory clearly (not retried).
        tracing::warn!("no database (SHOPSYNC_DATABASE_URL): stock is not synced");
        let runner = shopsync_runtime::worker::NoTasks(SERVICE);
        return shopsync_runtime::worker::serve_worker(&cfg, SERVICE, runner, shutdown).await;
    }
    let pool = shopsync_store::connect_with(
        &cfg.database_url,
        cfg.db_max_connections,
        "shopsync-inventory-sync",
        shopsync_store::Plans::Generic,
        &[&SCHEMA, &shopsync_shopify::SCHEMA],
    )
    .await
    .context("inventory-sync database")?;
    let locks = ShopLocks::default();
    let followers_stop = shutdown.child_token();
    let token = if cfg.insecure_no_auth { None } else { cfg.service_token.as_ref() };
    let auth = shopsync_runtime::ClientAuth::new(token).map_err(anyhow::Error::msg)?;
    let (contexts, shops) = match cfg.shop_contexts()? {
        Some(c) => {
            let shops = pb::shops_client::ShopsClient::new(
                shopsync_runtime::client::connect_lazy(&c.shops_url, auth.clone())
                    .context("scheduler address")?,
            );
            let contexts =
                Arc::new(ShopContexts::new(c, auth, Some(pool.clone())).context("shop contexts")?);
            (Some(contexts), Some(shops))
        }
        None => (None, None),
    };
    let followers = match (stock_follow, &contexts, shops) {
        (true, Some(contexts), Some(shops)) => {
            let f = follow::Followers {
                contexts: contexts.clone(),
                shops,
                db: pool.clone(),
                locks: locks.clone(),
                poll: Duration::from_millis(stock_poll_ms),
                refresh: Duration::from_millis(stock_shops_refresh_ms),
            };
            Some(tokio::spawn(f.run(followers_stop.clone())))
        }
        _ => None,
    };
    let stock = grpc::StockService { db: pool.clone(), contexts };
    let apis = shopsync_runtime::worker::Apis {
        services: vec![pb::stock_server::SERVICE_NAME],
        probe: Some({
            let pool = pool.clone();
            shopsync_runtime::server::probe(move || shopsync_store::ping(pool.clone()))
        }),
    };
    let runner = InventoryTasks { db: pool.clone(), locks };
    let r = shopsync_runtime::worker::serve_worker_with(
        &cfg,
        SERVICE,
        runner,
        shutdown,
        apis,
        |router, auth| {
            router.add_service(InterceptedService::new(
                pb::stock_server::StockServer::new(stock),
                auth,
            ))
        },
    )
    .await;
    followers_stop.cancel();
    if let Some(t) = followers {
        let _ = t.await;
    }
    pool.close().await;
    r
}
