//! The order-sync stack for end-to-end tests: the simulator with its shops, the posting
//! service, order-sync and a scheduler that dispatches to them, and the helpers the order,
//! shipment, refund and webhook scenarios share (ERP master data, sync now, documents, cues).

#![allow(clippy::unwrap_used)] // test support: a missing value is a failure

use crate::*;
use anyhow::{Context, Result, bail};
use futures::StreamExt;
use shopsync_proto::pb;
use std::collections::BTreeMap;
use std::time::Duration;

/// The simulator tells its shops apart by their tokens.
pub fn token_of(shop: &str) -> String {
    format!("shpat_order_sync_e2e_{shop}")
}

pub struct Stack {
    pub sim: Proc,
    pub posting: Proc,
    pub order_sync: Proc,
    pub scheduler: Proc,
    pub db: TestDb,
    pub test: &'static str,
    /// order-sync's webhook endpoint (`SHOPSYNC_WEBHOOK_LISTEN`, also its public address).
    pub webhook_addr: std::net::SocketAddr,
}

pub async fn start_sim(test: &str, shops: &[&str], args: &[&str]) -> Result<Proc> {
    let addr = free_addr()?;
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-logs").join(test);
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("shopify-sim.log");
    let file = std::fs::File::create(&log)?;
    // NAME:TOKEN:PLAN:CURRENCY; a shop named `*-jpy` keeps its books in yen.
    let list: Vec<String> = shops
        .iter()
        .map(|s| {
            let currency = if s.ends_with("-jpy") { "JPY" } else { "EUR" };
            format!("{s}:{}:standard:{currency}", token_of(s))
        })
        .collect();
    let child = tokio::process::Command::new(bin("shopify-sim")?)
        .args(["--listen", &addr.to_string(), "--shop", &list.join(",")])
        .args(args)
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .context("starting shopify-sim")?;
    let p = Proc::from_child("shopify-sim", addr, child, log);
    let url = format!("{}/sim/shops/{}", p.url(), shops[0]);
    eventually(Duration::from_secs(10), || {
        let url = url.clone();
        async move { Ok(http().get(url).send().await?.error_for_status()?) }
    })
    .await?;
    Ok(p)
}

pub fn http() -> reqwest::Client {
    shopsync_shopify::init_tls();
    reqwest::Client::new()
}

pub async fn sim_post(
    sim: &Proc,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let r = http().post(format!("{}{path}", sim.url())).json(&body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("simulator {path}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

pub async fn order_sync(
    test: &str,
    db: &TestDb,
    sched: std::net::SocketAddr,
    posting: &Proc,
    listen: std::net::SocketAddr,
) -> Result<Proc> {
    order_sync_with(test, db, sched, posting, listen, None).await
}

/// [`order_sync`] with its webhook endpoint on `webhook` (also the address subscriptions name;
/// gaps after 2 s, so the gap scenario is quick; bodies up to 64 KiB).
pub async fn order_sync_with(
    test: &str,
    db: &TestDb,
    sched: std::net::SocketAddr,
    posting: &Proc,
    listen: std::net::SocketAddr,
    webhook: Option<std::net::SocketAddr>,
) -> Result<Proc> {
    let mut env: Vec<(String, String)> = vec![
        ("SHOPSYNC_LISTEN".into(), listen.to_string()),
        ("SHOPSYNC_SERVICE_TOKEN".into(), TOKEN.into()),
        ("SHOPSYNC_DATABASE_URL".into(), db.url.clone()),
        ("SHOPSYNC_SHOPS_URL".into(), format!("http://{sched}")),
        ("SHOPSYNC_POSTING_URL".into(), posting.url()),
        ("SHOPSYNC_SECRET_KEYS".into(), TEST_SECRET_KEYS.into()),
    ];
    if let Some(w) = webhook {
        env.push(("SHOPSYNC_WEBHOOK_LISTEN".into(), w.to_string()));
        env.push(("SHOPSYNC_WEBHOOK_PUBLIC_URL".into(), format!("http://{w}")));
        env.push(("SHOPSYNC_WEBHOOK_GAP_SECS".into(), "2".into()));
        env.push(("SHOPSYNC_WEBHOOK_MAX_BODY_BYTES".into(), "65536".into()));
    }
    spawn(Spawn { binary: "shopsync-order-sync", name: "shopsync-order-sync", test, env }).await
}

impl Stack {
    pub async fn start(test: &'static str, shops: &[&str]) -> Result<Self> {
        Self::start_with(test, shops, &[]).await
    }

    /// With the simulator started with `sim_args`.
    pub async fn start_with(test: &'static str, shops: &[&str], sim_args: &[&str]) -> Result<Self> {
        let db = TestDb::create().await?;
        let sim = start_sim(test, shops, sim_args).await?;
        let posting = start_worker(test, Service::Posting, &db).await?;
        let sched_addr = free_addr()?;
        let webhook_addr = free_addr()?;
        let order_sync =
            order_sync_with(test, &db, sched_addr, &posting, free_addr()?, Some(webhook_addr))
                .await?;
        // The scheduler dispatches to the two services started above (it owns neither).
        let workers = [("POSTING", &posting), ("ORDER_SYNC", &order_sync)];
        let scheduler = scheduler_for(test, &db, sched_addr, &workers).await?;
        Ok(Self { sim, posting, order_sync, scheduler, db, test, webhook_addr })
    }

    pub async fn restart_order_sync(&mut self) -> Result<()> {
        // Same address: the scheduler knows order-sync by it.
        let listen = self.order_sync.addr;
        let webhook = Some(self.webhook_addr);
        self.order_sync = order_sync_with(
            self.test,
            &self.db,
            self.scheduler.addr,
            &self.posting,
            listen,
            webhook,
        )
        .await?;
        Ok(())
    }

    pub async fn cues(
        &self,
    ) -> Result<pb::cues_client::CuesClient<shopsync_runtime::client::AuthedChannel>> {
        let auth =
            shopsync_runtime::ClientAuth::new(Some(&secret())).map_err(anyhow::Error::msg)?;
        Ok(pb::cues_client::CuesClient::new(
            shopsync_runtime::client::connect(&self.order_sync.url(), auth).await?,
        ))
    }
}

/// The simulator's shop as it exports it: SKU -> variant gid, and its first location's gid.
pub async fn catalogue(sim: &Proc, shop: &str) -> Result<(BTreeMap<String, String>, String)> {
    let v: serde_json::Value =
        http().get(format!("{}/sim/shops/{shop}/export", sim.url())).send().await?.json().await?;
    let mut skus = BTreeMap::new();
    for p in v["products"].as_object().context("products")?.values() {
        for var in p["variants"].as_array().context("variants")? {
            skus.insert(
                var["sku"].as_str().context("sku")?.to_owned(),
                format!("gid://shopify/ProductVariant/{}", var["id"]),
            );
        }
    }
    let loc =
        v["locations"].as_object().context("locations")?.keys().next().context("a location")?;
    Ok((skus, format!("gid://shopify/Location/{loc}")))
}

/// The e-mail of one of the simulator shop's customers.
pub async fn first_email(sim: &Proc, shop: &str) -> Result<String> {
    let v: serde_json::Value =
        http().get(format!("{}/sim/shops/{shop}/export", sim.url())).send().await?.json().await?;
    let c = v["customers"].as_object().context("customers")?.values().next().context("one")?;
    Ok(c["email"].as_str().context("email")?.to_owned())
}

/// Connect `shop` (served by the simulator) with order settings.
pub async fn connect_shop(
    s: &Stack,
    shop: &str,
    location: &str,
    domain: Option<&str>,
) -> Result<pb::Shop> {
    connect_shop_with(s, shop, location, domain, |_| {}).await
}

/// [`connect_shop`] with settings changed by `edit`.
pub async fn connect_shop_with(
    s: &Stack,
    shop: &str,
    location: &str,
    domain: Option<&str>,
    edit: impl FnOnce(&mut shopsync_common::shop::ShopSettings),
) -> Result<pb::Shop> {
    let mut shops = shops(&s.scheduler).await?;
    let mut req = shop_request(shop, domain.unwrap_or(&s.sim.url()));
    req.access_token = token_of(shop);
    let mut settings = shopsync_common::shop::ShopSettings {
        allow_background_syncs: false,
        auto_create_customers: true,
        customer_template: Some("TEMPLATE".into()),
        shipping_charges_item: Some("SHIP".into()),
        locations: vec![shopsync_common::shop::LocationMapping {
            shopify_location_id: location.into(),
            erp_location_filter: "MAIN".into(),
            stock_calculation: Default::default(),
            default_erp_location: None,
        }],
        ..Default::default()
    };
    edit(&mut settings);
    req.shop.as_mut().unwrap().settings = Some(shopsync_proto::shops::settings_to_pb(&settings));
    Ok(shops.create_shop(req).await?.into_inner())
}

pub async fn erp_setup(s: &Stack, skus: &[&String]) -> Result<()> {
    let (mut erp, _) = erp_clients(&s.posting).await?;
    match erp
        .create_location(pb::Location {
            code: "MAIN".into(),
            name: "Main".into(),
            ..Default::default()
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == tonic::Code::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    match erp
        .create_customer(pb::Customer {
            no: "TEMPLATE".into(),
            name: "Template for web shop customers".into(),
            currency: "EUR".into(),
            ..Default::default()
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == tonic::Code::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    for (no, sku) in std::iter::once(("SHIP".to_owned(), None))
        .chain(skus.iter().enumerate().map(|(i, s)| (format!("ITEM-{i}-{s}"), Some(*s))))
    {
        let r = erp
            .create_item(pb::Item {
                no: no.chars().take(50).collect(),
                description: no.clone(),
                unit_price_minor: 100,
                currency: "EUR".into(),
                sku: sku.cloned().unwrap_or_default(),
                ..Default::default()
            })
            .await;
        match r {
            Ok(_) => {}
            Err(e) if e.code() == tonic::Code::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub fn sync_params(only_fully_paid: bool) -> pb::TaskParams {
    pb::TaskParams {
        params: Some(pb::task_params::Params::SyncOrders(pb::SyncOrdersParams {
            only_fully_paid,
            ..Default::default()
        })),
    }
}

pub fn create_params() -> pb::TaskParams {
    pb::TaskParams { params: Some(pb::task_params::Params::CreateSalesOrders(Default::default())) }
}

/// Sync now, followed to the end; the last run.
pub async fn sync_now(q: &mut Queue, shop: &str, params: pb::TaskParams) -> Result<pb::JobRun> {
    let mut stream = q
        .sync_now(pb::SyncNowRequest {
            shop: shop.into(),
            params: Some(params),
            created_by: "e2e".into(),
            wait: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut last = None;
    while let Some(ev) = stream.message().await? {
        if let Some(r) = ev.snapshot.and_then(|s| s.run) {
            last = Some(r);
        }
    }
    last.context("no run")
}

/// Wait until `entry` has a run that ended; return the newest.
pub async fn ended_run(q: &mut Queue, entry: &str, after: usize) -> Result<pb::JobRun> {
    eventually(Duration::from_secs(60), || {
        let mut q = q.clone();
        async move {
            let rs = runs(&mut q, entry).await?;
            let ended: Vec<_> = rs
                .into_iter()
                .filter(|r| {
                    matches!(run_status(r), pb::RunStatus::Succeeded | pb::RunStatus::Failed)
                })
                .collect();
            if ended.len() <= after {
                bail!("{} ended runs", ended.len());
            }
            Ok(ended
                .into_iter()
                .max_by_key(|r| r.started_at.map(|t| (t.seconds, t.nanos)))
                .unwrap())
        }
    })
    .await
}

/// Shopify's net totals per order no. (total less tax: the simulator's prices exclude tax).
pub async fn shopify_net_totals(s: &Stack, shop: &str) -> Result<BTreeMap<String, i64>> {
    use shopsync_shopify::ops;
    let budget = std::sync::Arc::new(shopsync_shopify::Budget::default());
    let client = shopsync_shopify::ShopifyClient::new(
        shopsync_shopify::ClientConfig::new(
            s.sim.url(),
            secrecy::SecretString::from(token_of(shop)),
        ),
        budget,
    )?;
    let mut out = BTreeMap::new();
    let mut nodes = std::pin::pin!(client.nodes::<ops::OrdersPage>(ops::orders_page::Variables {
        first: 25,
        after: None,
        query: None,
    }));
    while let Some(n) = nodes.next().await {
        let n = n?;
        let cur = n.currency_code;
        let minor = |d: shopsync_shopify::Decimal| {
            shopsync_shopify::Money::new(d, cur).unwrap().minor_units().unwrap()
        };
        let tax = minor(n.current_total_tax_set.shop_money.amount);
        out.insert(n.name.clone(), minor(n.current_total_price_set.shop_money.amount) - tax);
    }
    Ok(out)
}

pub async fn documents(s: &Stack, shop: &str) -> Result<Vec<pb::SalesDocument>> {
    let (mut erp, _) = erp_clients(&s.posting).await?;
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let r = erp
            .list_sales_documents(pb::ListSalesDocumentsRequest {
                shop: shop.into(),
                page_size: 500,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        out.extend(r.documents);
        if r.next_page_token.is_empty() {
            return Ok(out);
        }
        token = r.next_page_token;
    }
}

pub fn count(c: &pb::GetCuesResponse, k: pb::CueKind) -> i64 {
    c.cues.iter().find(|x| x.kind == k as i32).map(|x| x.count).unwrap_or(-1)
}

pub async fn sim_patch(sim: &Proc, path: &str, body: serde_json::Value) -> Result<()> {
    let r = http().patch(format!("{}{path}", sim.url())).json(&body).send().await?;
    let status = r.status();
    if !status.is_success() {
        bail!("simulator {path}: {status}: {}", r.text().await?);
    }
    Ok(())
}

pub fn order_id(placed: &serde_json::Value) -> String {
    placed["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
}

/// The simulator's shop as it exports it (orders with fulfillments and refunds, locations).
pub async fn sim_export(sim: &Proc, shop: &str) -> Result<serde_json::Value> {
    Ok(http().get(format!("{}/sim/shops/{shop}/export", sim.url())).send().await?.json().await?)
}

/// Post every unposted sales document of `shop`: orders shipped and invoiced, others invoiced.
pub async fn post_all(s: &Stack, shop: &str) -> Result<usize> {
    let (_, mut posting) = erp_clients(&s.posting).await?;
    let mut n = 0;
    for d in documents(s, shop).await? {
        if d.status == pb::DocumentStatus::Posted as i32 {
            continue;
        }
        let order = d.r#type == pb::DocumentType::Order as i32;
        posting
            .post_sales_document(pb::PostSalesDocumentRequest {
                no: d.no.clone(),
                ship: order,
                invoice: true,
                ..Default::default()
            })
            .await
            .with_context(|| format!("posting {}", d.no))?;
        n += 1;
    }
    Ok(n)
}

/// Sync-shipments parameters (every shipment awaiting fulfillment).
pub fn shipment_params() -> pb::TaskParams {
    pb::TaskParams { params: Some(pb::task_params::Params::SyncShipments(Default::default())) }
}

/// The simulator signs a shop's webhooks with this client secret (its default).
pub fn sim_client_secret(shop: &str) -> String {
    format!("shpss_{shop}_secret")
}

/// Turn order webhooks on for `shop` (with documents made right after import) and store the
/// simulator's client secret as its webhook secret.
pub async fn enable_order_webhooks(s: &Stack, shop: &str) -> Result<pb::Shop> {
    let mut shops = shops(&s.scheduler).await?;
    let mut current = shops.get_shop(pb::GetShopRequest { name: shop.into() }).await?.into_inner();
    let settings = current.settings.get_or_insert_with(Default::default);
    settings.order_webhooks = true;
    settings.auto_create_sales_orders = true;
    let version = current.version;
    Ok(shops
        .update_shop(pb::UpdateShopRequest {
            name: shop.into(),
            expected_version: version,
            shop: Some(current),
            access_token: None,
            webhook_secret: Some(sim_client_secret(shop)),
        })
        .await?
        .into_inner())
}

/// order-sync's webhook endpoint.
pub fn webhook_url(s: &Stack) -> String {
    format!("http://{}/webhooks/shopify", s.webhook_addr)
}

/// A one-off entry retried every second, up to 20 attempts (a run killed mid-way is retried).
pub fn retrying(shop: &str, params: pb::TaskParams) -> pb::JobSpec {
    pb::JobSpec {
        shop: shop.into(),
        params: Some(params),
        created_by: "e2e".into(),
        retry: Some(pb::RetryPolicy {
            max_attempts: Some(20),
            rerun_delay_seconds: Some(1),
            backoff_multiplier: Some(1.0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Wait until `entry` has a succeeded run.
pub async fn succeeded(q: &mut Queue, entry: &str) -> Result<()> {
    eventually(Duration::from_secs(240), || {
        let mut q = q.clone();
        let id = entry.to_owned();
        async move {
            let rs = runs(&mut q, &id).await?;
            if !rs.iter().any(|r| run_status(r) == pb::RunStatus::Succeeded) {
                bail!("not yet: {:?}", rs.iter().map(run_status).collect::<Vec<_>>());
            }
            Ok(())
        }
    })
    .await
}
