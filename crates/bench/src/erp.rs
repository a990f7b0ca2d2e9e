//! (e) The ERP side: create sales orders of 3 lines through gRPC `Erp` with many calls in
//! flight, then batch-post all of them as one BatchPostSalesOrders job run by the scheduler
//! on the posting service. Documents per second for each; written to bench/results/erp.json.

use crate::harness::{
    Procs, TOKEN, bench_log, connect, drop_db, free_port, fresh_db, wait_healthy,
};
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;
use std::time::{Duration, Instant};
use tokio::process::Command;

const DB: &str = "shopsync_bench_erp";
const ITEMS: usize = 200;
const CUSTOMERS: usize = 100;

pub async fn run(orders: usize, concurrency: usize) -> Result<Value> {
    let url = fresh_db(DB).await?;
    let mut stack = start(&url).await?;
    master_data(&mut stack.erp).await?;
    let create_secs = create_one_by_one(&stack.erp, orders, concurrency).await?;
    let batch_secs = create_in_batches(&stack.erp, orders).await?;
    let run = batch_post(&mut stack.queue, orders).await?;
    let ts = |t: &Option<shopsync_proto::prost_types::Timestamp>| {
        t.as_ref().map_or(f64::NAN, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
    };
    let post_secs = ts(&run.finished_at) - ts(&run.started_at);
    let counters = run.counters.clone().unwrap_or_default().values;
    let posted = counters.get("posted").copied().unwrap_or(0);
    ensure!(
        posted == orders as i64 && run.record_errors == 0,
        "posted {posted} of {orders}, {} errors: {:?} {:?}",
        run.record_errors,
        run.errors.first(),
        run.error
    );
    drop(stack);
    drop_db(DB).await?;
    Ok(json!({
        "orders": orders,
        "lines_per_order": 3,
        "create_concurrency": concurrency,
        "create_seconds": create_secs,
        "orders_created_per_sec": orders as f64 / create_secs,
        "batch_size": BATCH,
        "batch_create_seconds": batch_secs,
        "orders_created_per_sec_batched": orders as f64 / batch_secs,
        "post_seconds": post_secs,
        "documents_posted_per_sec": posted as f64 / post_secs,
        "posting_concurrency": shopsync_posting::batch::CONCURRENCY,
        "counters": counters,
    }))
}

/// Sales documents per `CreateSalesDocuments` call.
const BATCH: usize = 100;

/// The posting service and the scheduler dispatching to it, with clients of both.
struct Stack {
    _procs: Procs,
    erp: pb::erp_client::ErpClient<AuthedChannel>,
    queue: pb::job_queue_client::JobQueueClient<AuthedChannel>,
}

/// Start the posting service and the scheduler on the database at `url`, with the bench shop.
async fn start(url: &str) -> Result<Stack> {
    let dir = std::env::current_exe()?.parent().context("no exe dir")?.to_path_buf();
    let (pport, sport) = (free_port()?, free_port()?);
    let posting = Command::new(dir.join("shopsync-posting"))
        .env("SHOPSYNC_LISTEN", format!("127.0.0.1:{pport}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env(
            "SHOPSYNC_DATABASE_URL",
            format!("{url}{}", std::env::var("BENCH_URL_SUFFIX").unwrap_or_default()),
        )
        .env("SHOPSYNC_DB_MAX_CONNECTIONS", "16")
        .env("RUST_LOG", "warn")
        .stdout(bench_log("erp-posting")?)
        .kill_on_drop(true)
        .spawn()
        .context("starting shopsync-posting (make bench builds it)")?;
    let mut procs = Procs(vec![posting]);
    wait_healthy(pport).await?;
    let sched = Command::new(dir.join("shopsync-scheduler"))
        .env("SHOPSYNC_LISTEN", format!("127.0.0.1:{sport}"))
        .env("SHOPSYNC_SERVICE_TOKEN", TOKEN)
        .env("SHOPSYNC_DATABASE_URL", url)
        .env("SHOPSYNC_WORKERS__POSTING", format!("http://127.0.0.1:{pport}"))
        .env("RUST_LOG", "warn")
        .stdout(bench_log("erp-scheduler")?)
        .kill_on_drop(true)
        .spawn()
        .context("starting shopsync-scheduler")?;
    procs.0.push(sched);
    wait_healthy(sport).await?;
    crate::harness::create_bench_shop(sport).await?;

    let erp = pb::erp_client::ErpClient::new(connect(pport).await?);
    let queue = pb::job_queue_client::JobQueueClient::new(connect(sport).await?);
    Ok(Stack { _procs: procs, erp, queue })
}

/// A location, the items with stock there, the customers.
async fn master_data(erp: &mut pb::erp_client::ErpClient<AuthedChannel>) -> Result<()> {
    eprintln!("(e) master data: {ITEMS} items with stock, {CUSTOMERS} customers…");
    erp.create_location(pb::Location { code: "MAIN".into(), ..Default::default() }).await?;
    let mut stock = Vec::new();
    for i in 0..ITEMS {
        let no = format!("ITEM-{i:04}");
        erp.create_item(pb::Item {
            no: no.clone(),
            description: format!("Bench item {i}"),
            unit_price_minor: 500 + (i as i64 % 50) * 100,
            unit_cost_minor: 300,
            currency: "EUR".into(),
            ..Default::default()
        })
        .await?;
        stock.push(pb::StockAdjustmentLine {
            item_no: no,
            location_code: "MAIN".into(),
            quantity: 1_000_000,
            ..Default::default()
        });
    }
    erp.post_stock_adjustment(pb::StockAdjustmentRequest { lines: stock, ..Default::default() })
        .await?;
    for c in 0..CUSTOMERS {
        erp.create_customer(pb::Customer {
            no: format!("CUST-{c:04}"),
            name: format!("Bench customer {c}"),
            currency: "EUR".into(),
            ..Default::default()
        })
        .await?;
    }

    Ok(())
}

/// Create `orders` sales orders one per call, `concurrency` calls in flight; the seconds taken.
async fn create_one_by_one(
    erp: &pb::erp_client::ErpClient<AuthedChannel>,
    orders: usize,
    concurrency: usize,
) -> Result<f64> {
    eprintln!("(e) creating {orders} sales orders of 3 lines, {concurrency} calls in flight…");
    let start = Instant::now();
    let mut inflight = tokio::task::JoinSet::new();
    let mut created = 0usize;
    for n in 0..orders {
        if inflight.len() >= concurrency
            && let Some(r) = inflight.join_next().await
        {
            created += usize::from(r??);
        }
        let mut c = erp.clone();
        let req = order_request(n, "bench-shop");
        inflight.spawn(async move {
            anyhow::Ok(c.create_sales_document(req).await?.into_inner().created)
        });
    }
    while let Some(r) = inflight.join_next().await {
        created += usize::from(r??);
    }
    ensure!(created == orders, "{created} of {orders} orders created");
    Ok(start.elapsed().as_secs_f64())
}

/// The same again through the batch RPC (an order import's way), into another shop so the
/// posting job still posts the first ones only; the seconds taken.
async fn create_in_batches(
    erp: &pb::erp_client::ErpClient<AuthedChannel>,
    orders: usize,
) -> Result<f64> {
    eprintln!(
        "(e) creating {orders} more through CreateSalesDocuments, {BATCH} per call, 4 calls in flight…"
    );
    let start = Instant::now();
    let mut inflight = tokio::task::JoinSet::new();
    let mut batch_created = 0usize;
    for chunk in (0..orders).collect::<Vec<_>>().chunks(BATCH) {
        if inflight.len() >= 4
            && let Some(r) = inflight.join_next().await
        {
            batch_created += r??;
        }
        let documents = chunk.iter().map(|&n| order_request(n, "bench-batch")).collect();
        let mut c = erp.clone();
        inflight.spawn(async move {
            let r = c
                .create_sales_documents(pb::CreateSalesDocumentsRequest { documents })
                .await?
                .into_inner();
            if let Some(e) = r.results.iter().find_map(|r| r.error.as_ref()) {
                anyhow::bail!("a document of the batch was refused: {}", e.message);
            }
            anyhow::Ok(r.results.iter().filter(|r| r.created).count())
        });
    }
    while let Some(r) = inflight.join_next().await {
        batch_created += r??;
    }
    let batch_secs = start.elapsed().as_secs_f64();
    ensure!(batch_created == orders, "{batch_created} of {orders} orders created in batches");
    Ok(batch_secs)
}

/// Batch-post the first shop's orders as one BatchPostSalesOrders job; its finished run.
async fn batch_post(
    queue: &mut pb::job_queue_client::JobQueueClient<AuthedChannel>,
    orders: usize,
) -> Result<pb::JobRun> {
    eprintln!("(e) batch-posting the first {orders} as one BatchPostSalesOrders job…");
    let spec = pb::JobSpec {
        shop: "bench-shop".into(),
        params: Some(pb::TaskParams {
            params: Some(pb::task_params::Params::BatchPostSalesOrders(
                pb::BatchPostSalesOrdersParams {
                    ship: true,
                    invoice: true,
                    released_only: true,
                    shopify_order_no_not_blank: true,
                    ..Default::default()
                },
            )),
        }),
        created_by: "bench".into(),
        timeout_seconds: Some(3600),
        ..Default::default()
    };
    let entry = queue
        .create_entry(pb::CreateEntryRequest { spec: Some(spec), ..Default::default() })
        .await?
        .into_inner();
    let t = Instant::now();
    loop {
        let runs = queue
            .list_runs(pb::ListRunsRequest {
                entry_id: entry.id.clone(),
                page_size: 10,
                ..Default::default()
            })
            .await?
            .into_inner()
            .runs;
        if let Some(r) = runs.into_iter().find(|r| r.finished_at.is_some()) {
            return Ok(r);
        }
        if t.elapsed() > Duration::from_secs(900) {
            bail!("the batch posting job did not finish in 15 min");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sales order `n` of 3 lines for a Shopify order of `shop`, released.
fn order_request(n: usize, shop: &str) -> pb::CreateSalesDocumentRequest {
    let id = 1_000_000 + n as i64;
    let lines = (0..3)
        .map(|k| pb::SalesLine {
            item_no: format!("ITEM-{:04}", (n * 3 + k) % ITEMS),
            location_code: "MAIN".into(),
            quantity: 1 + (k as i64),
            shopify_order_line_id: id * 10 + k as i64,
            ..Default::default()
        })
        .collect();
    pb::CreateSalesDocumentRequest {
        document: Some(pb::SalesDocument {
            r#type: pb::DocumentType::Order as i32,
            shop: shop.into(),
            shopify_order_id: id,
            shopify_order_no: format!("#{id}"),
            sell_to_customer_no: format!("CUST-{:04}", n % CUSTOMERS),
            lines,
            ..Default::default()
        }),
        release: true,
    }
}
