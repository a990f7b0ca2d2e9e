//! The `shopsync` CLI against a real scheduler.

use anyhow::Result;
use shopsync_e2e::*;
use std::process::Output;

async fn cli(sched: &str, args: &[&str]) -> Result<Output> {
    Ok(tokio::process::Command::new(bin("shopsync")?)
        .args(["--scheduler", sched, "--token", TOKEN])
        .args(args)
        .env_remove("SHOPSYNC_SERVICE_TOKEN")
        .output()
        .await?)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test]
async fn jobs_create_list_run_now_wait_and_log() -> Result<()> {
    let test = "cli";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let s = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let url = s.url();

    let o = cli(
        &url,
        &[
            "jobs",
            "create",
            "--task",
            "test",
            "--shop",
            "shop-1",
            "--params",
            r#"{"service":"posting","steps":4,"step_ms":100}"#,
            "--every",
            "1h",
            "--start-time",
            "22:00",
            "--end-time",
            "02:00",
            "--tz",
            "Europe/Copenhagen",
            "--category",
            "POST",
            "--on-hold",
        ],
    )
    .await?;
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("on hold") && out.contains("every 1h 22:00-02:00"), "{out}");
    let id = out
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|w| w.len() == 36)
        .expect("an entry id in the table")
        .to_owned();

    let o = cli(&url, &["jobs", "list", "--status", "on_hold"]).await?;
    assert!(text(&o).contains(&id), "{}", text(&o));

    let o = cli(&url, &["jobs", "run-now", &id, "--wait"]).await?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("succeeded"), "{}", text(&o));

    let o = cli(&url, &["jobs", "log", &id]).await?;
    assert!(text(&o).contains("succeeded") && text(&o).contains("4/4"), "{}", text(&o));

    let o = cli(&url, &["jobs", "update", &id, "--every", "30m"]).await?;
    assert!(o.status.success() && text(&o).contains("every 30m"), "{}", text(&o));
    Ok(())
}

#[tokio::test]
async fn clear_errors_for_bad_arguments_and_an_unreachable_server() -> Result<()> {
    let test = "cli_errors";
    let db = TestDb::create().await?;
    let workers = Workers::start(test, &db).await?;
    let s = start_scheduler(test, "sched-a", &db, &workers, &[]).await?;
    let o = cli(
        &s.url(),
        &["jobs", "create", "--task", "sync_orders", "--shop", "s", "--cron", "99 * * * *"],
    )
    .await?;
    assert!(!o.status.success());
    assert!(text(&o).contains("invalid argument: spec.recurrence.cron"), "{}", text(&o));
    let o = cli(&s.url(), &["jobs", "create", "--task", "sync_orderz", "--shop", "s"]).await?;
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown task"), "{}", text(&o));
    let o = cli(
        &s.url(),
        &[
            "jobs",
            "create",
            "--task",
            "sync_orders",
            "--shop",
            "s",
            "--params",
            r#"{"only_fully_paid": "yes"}"#,
        ],
    )
    .await?;
    assert!(text(&o).contains("--params does not fit the sync_orders task"), "{}", text(&o));
    let o = cli("http://127.0.0.1:1", &["jobs", "list"]).await?;
    assert!(!o.status.success());
    assert!(text(&o).contains("cannot reach the scheduler at http://127.0.0.1:1"), "{}", text(&o));
    Ok(())
}

async fn erp_cli(posting: &str, args: &[&str]) -> Result<Output> {
    Ok(tokio::process::Command::new(bin("shopsync")?)
        .args(["--posting", posting, "--token", TOKEN])
        .args(args)
        .env_remove("SHOPSYNC_SERVICE_TOKEN")
        .output()
        .await?)
}

#[tokio::test]
async fn items_customers_orders_and_post() -> Result<()> {
    let test = "cli_erp";
    let db = TestDb::create().await?;
    let p = start_worker(test, Service::Posting, &db).await?;
    let url = p.url();
    let ok = |o: &Output| assert!(o.status.success(), "{}", text(o));
    ok(&erp_cli(
        &url,
        &[
            "items",
            "create",
            "SKU-1",
            "--description",
            "Mug",
            "--price",
            "1250",
            "--cost",
            "400",
            "--currency",
            "EUR",
        ],
    )
    .await?);
    ok(&erp_cli(&url, &["locations", "create", "MAIN", "--name", "Main warehouse"]).await?);
    ok(&erp_cli(
        &url,
        &["items", "adjust", "SKU-1", "--location", "MAIN", "--qty", "5", "--key", "k1"],
    )
    .await?);
    let again = erp_cli(
        &url,
        &["items", "adjust", "SKU-1", "--location", "MAIN", "--qty", "5", "--key", "k1"],
    )
    .await?;
    assert!(text(&again).contains("already posted"), "{}", text(&again));
    let o = erp_cli(&url, &["items", "show", "SKU-1"]).await?;
    assert!(text(&o).contains("12.50 EUR") && text(&o).contains("MAIN       5"), "{}", text(&o));
    ok(&erp_cli(
        &url,
        &[
            "customers",
            "create",
            "C1",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--currency",
            "EUR",
        ],
    )
    .await?);
    let o =
        erp_cli(&url, &["customers", "find", "--email", " ADA@Example.com", "--phone", "+1 555"])
            .await?;
    ok(&o);
    assert!(text(&o).contains("C1") && text(&o).contains("(none)"), "{}", text(&o));
    let o = erp_cli(&url, &["customers", "list"]).await?;
    assert!(text(&o).contains("ada@example.com"), "{}", text(&o));
    let o = erp_cli(&url, &["customers", "list", "--search", "nobody"]).await?;
    assert!(!text(&o).contains("ada@example.com"), "{}", text(&o));
    let o = erp_cli(&url, &["items", "list", "--search", "mug"]).await?;
    assert!(text(&o).contains("SKU-1"), "{}", text(&o));

    let o = erp_cli(
        &url,
        &[
            "orders",
            "create",
            "--customer",
            "C1",
            "--shop",
            "shop-1",
            "--line",
            "SKU-1:2",
            "--shopify-order-id",
            "1001",
            "--shopify-order-no",
            "#1001",
            "--json",
        ],
    )
    .await?;
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let no =
        out.split("no: \"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned();
    assert!(no.starts_with("SO"), "{out}");
    let bad =
        erp_cli(&url, &["orders", "create", "--customer", "C1", "--shop", "s", "--line", "SKU-1"])
            .await?;
    assert!(!bad.status.success() && text(&bad).contains("ITEM:QTY"), "{}", text(&bad));
    let o = erp_cli(&url, &["orders", "list", "--status", "open"]).await?;
    assert!(
        text(&o).contains(&no) && text(&o).contains("#1001") && text(&o).contains("25.00 EUR"),
        "{}",
        text(&o)
    );
    ok(&erp_cli(&url, &["orders", "release", &no]).await?);
    let o = erp_cli(&url, &["post", &no, "--ship", "--invoice"]).await?;
    assert!(
        text(&o).contains("posted shipment") && text(&o).contains("posted invoice"),
        "{}",
        text(&o)
    );
    let o = erp_cli(&url, &["post", &no, "--ship"]).await?;
    assert!(!o.status.success() && text(&o).contains("nothing to post"), "{}", text(&o));
    let o = erp_cli(&url, &["items", "create", "X", "--price", "1", "--currency", "euro"]).await?;
    assert!(
        !o.status.success() && text(&o).contains("invalid argument: currency:"),
        "{}",
        text(&o)
    );
    let o = erp_cli(&url, &["orders", "show", &no]).await?;
    assert!(text(&o).contains("posted") && text(&o).contains("SKU-1"), "{}", text(&o));
    Ok(())
}
