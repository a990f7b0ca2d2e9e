//! `shopsync`: the command line. Talks gRPC to the scheduler (`jobs`, `sync`, `shops`,
//! `cursors`), to order-sync (`cues`), to inventory-sync (`stock`) and to the posting service
//! (`items`, `customers`, `orders`, `post`).

/// `println!` for a command line: when the reader went away (`shopsync … | head`), stop
/// quietly with success instead of panicking on the broken pipe.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing the output: {e}");
            std::process::exit(1);
        }
    }};
}

mod cues;
mod erp;
mod jobs;
mod shops;
mod spec;
mod stock;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use secrecy::SecretString;
use shopsync_common::Task;
use shopsync_proto::pb;
use shopsync_runtime::ClientAuth;
use shopsync_runtime::client::AuthedChannel;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "shopsync", version, about = "Keep an ERP and its Shopify stores in step")]
struct Cli {
    /// Scheduler gRPC address.
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_SCHEDULER_URL",
        default_value = "http://127.0.0.1:50050"
    )]
    scheduler: String,
    /// Service token (shared secret of the internal gRPC APIs).
    #[arg(long, global = true, env = "SHOPSYNC_SERVICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Posting service gRPC address (items, customers, orders, post).
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_POSTING_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    posting: String,
    /// order-sync gRPC address (activity cues).
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_ORDER_SYNC_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    order_sync: String,
    /// inventory-sync gRPC address (stock diff, drift, history).
    #[arg(
        long,
        global = true,
        env = "SHOPSYNC_INVENTORY_SYNC_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    inventory_sync: String,
    /// Print the raw records instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Cmd {
    /// Job queue entries and their runs.
    #[command(subcommand)]
    Jobs(jobs::Jobs),
    /// Shops: list, show, create, update, disable, enable.
    #[command(subcommand)]
    Shops(shops::Shops),
    /// Sync cursors per shop: list, reset.
    #[command(subcommand)]
    Cursors(shops::Cursors),
    /// Items: list, show (with prices and stock), create, adjust stock.
    #[command(subcommand)]
    Items(erp::Items),
    /// Customers: list, show, create.
    #[command(subcommand)]
    Customers(erp::Customers),
    /// Locations: list, create.
    #[command(subcommand)]
    Locations(erp::Locations),
    /// Sales orders and invoices: list, show, create, release, reopen, delete.
    #[command(subcommand)]
    Orders(erp::Orders),
    /// Sync now: run a task for a shop once. In the background when the shop allows it (the
    /// entry is printed), else followed to its end; --wait always follows.
    Sync {
        task: Task,
        #[arg(long)]
        shop: String,
        /// Task parameters (saved filters) as JSON, e.g. '{"only_fully_paid": true}'.
        #[arg(long)]
        params: Option<String>,
        /// Follow the run to its end even when the shop syncs in the background.
        #[arg(long)]
        wait: bool,
        /// Idempotency key: repeating the command follows the same entry.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Activity cues (counts, of one shop with --shop); `cues show KIND`, `cues retry KIND KEY`.
    Cues {
        #[arg(long)]
        shop: Option<String>,
        #[command(subcommand)]
        cmd: Option<cues::Cues>,
    },
    /// Stock in Shopify (inventory-sync): `stock diff`, `stock drift`, `stock history`.
    #[command(subcommand)]
    Stock(stock::Stock),
    /// Post a sales order (ship and/or invoice) or a sales invoice.
    Post {
        no: String,
        #[arg(long)]
        ship: bool,
        #[arg(long)]
        invoice: bool,
        /// YYYY-MM-DD; defaults to the document's posting date.
        #[arg(long, default_value = "")]
        posting_date: String,
    },
}

/// The services the command line talks to.
#[derive(Clone, Copy)]
enum Server {
    Scheduler,
    Posting,
    OrderSync,
    InventorySync,
}

impl Cli {
    /// A channel to `server`; the error says how to point the command line at it.
    async fn connect(&self, server: Server) -> Result<AuthedChannel> {
        let (url, name, how) = match server {
            Server::Scheduler => {
                (&self.scheduler, "the scheduler", "--scheduler / SHOPSYNC_SCHEDULER_URL")
            }
            Server::Posting => {
                (&self.posting, "the posting service", "--posting / SHOPSYNC_POSTING_URL")
            }
            Server::OrderSync => {
                (&self.order_sync, "order-sync", "--order-sync / SHOPSYNC_ORDER_SYNC_URL")
            }
            Server::InventorySync => (
                &self.inventory_sync,
                "inventory-sync",
                "--inventory-sync / SHOPSYNC_INVENTORY_SYNC_URL",
            ),
        };
        let token = self.token.clone().map(SecretString::from);
        let auth = ClientAuth::new(token.as_ref()).map_err(anyhow::Error::msg)?;
        shopsync_runtime::client::connect(url, auth)
            .await
            .with_context(|| format!("cannot reach {name} at {url} (is it running? {how})"))
    }
}

/// gRPC errors as one clear line.
fn rpc(e: tonic::Status) -> anyhow::Error {
    use tonic::Code::*;
    match e.code() {
        InvalidArgument => anyhow!("invalid argument: {}", e.message()),
        NotFound => anyhow!("{}", e.message()),
        FailedPrecondition => anyhow!("not possible now: {}", e.message()),
        Aborted => anyhow!("conflict: {}", e.message()),
        Unauthenticated => {
            anyhow!("the server refused the service token (--token / SHOPSYNC_SERVICE_TOKEN)")
        }
        Unavailable => anyhow!("the server is unavailable: {}", e.message()),
        AlreadyExists => anyhow!("{}", e.message()),
        _ => anyhow!("{:?}: {}", e.code(), e.message()),
    }
}

fn print_json<T: std::fmt::Debug>(v: &T) {
    // prost types have no serde; Debug is a faithful, readable dump.
    out!("{v:#?}");
}

/// Run the command: connect to the service it talks to, then hand over to its module.
async fn run(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    match &cli.cmd {
        Cmd::Jobs(cmd) => {
            let mut c = jobs::Client::new(cli.connect(Server::Scheduler).await?);
            return jobs::jobs(&mut c, cmd, json).await;
        }
        Cmd::Sync { task, shop, params, wait, request_id } => {
            let mut c = jobs::Client::new(cli.connect(Server::Scheduler).await?);
            return jobs::sync_now(&mut c, *task, shop, params.as_deref(), *wait, request_id, json)
                .await;
        }
        Cmd::Shops(cmd) => {
            let mut c = shops::ShopsClient::new(cli.connect(Server::Scheduler).await?);
            shops::shops(&mut c, cmd, json).await?
        }
        Cmd::Cursors(cmd) => {
            let mut c = shops::ShopsClient::new(cli.connect(Server::Scheduler).await?);
            shops::cursors(&mut c, cmd, json).await?
        }
        Cmd::Items(cmd) => erp::items(&mut erp_client(&cli).await?, cmd, json).await?,
        Cmd::Customers(cmd) => erp::customers(&mut erp_client(&cli).await?, cmd, json).await?,
        Cmd::Locations(cmd) => erp::locations(&mut erp_client(&cli).await?, cmd, json).await?,
        Cmd::Orders(cmd) => erp::orders(&mut erp_client(&cli).await?, cmd, json).await?,
        Cmd::Post { no, ship, invoice, posting_date } => {
            let mut c = pb::posting_client::PostingClient::new(cli.connect(Server::Posting).await?);
            erp::post(&mut c, no, *ship, *invoice, posting_date, json).await?
        }
        Cmd::Cues { shop, cmd } => {
            let mut c = cues::CuesClient::new(cli.connect(Server::OrderSync).await?);
            match cmd {
                None => cues::counts(&mut c, shop.as_deref(), json).await?,
                Some(cmd) => cues::cues(&mut c, cmd, json).await?,
            }
        }
        Cmd::Stock(cmd) => {
            let mut c = stock::StockClient::new(cli.connect(Server::InventorySync).await?);
            stock::stock(&mut c, cmd, json).await?
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn erp_client(cli: &Cli) -> Result<erp::ErpClient> {
    Ok(pb::erp_client::ErpClient::new(cli.connect(Server::Posting).await?))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
