//! Shops, links and cursors through the scheduler's `Shops` API, the shop context a sync run
//! gets, and the schema owners' migrations: real scheduler and posting processes, a real
//! simulator, a fresh PostgreSQL database each.

use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretString};
use shopsync_e2e::*;
use shopsync_proto::pb;
use shopsync_runtime::secrets::Keyring;
use shopsync_runtime::shop::{ShopContextConfig, ShopContextError, ShopContexts};
use std::time::Duration;
use tonic::Code;

const TOKEN_PLAIN: &str = "shpat_e2e_SECRET_token_4242";
const WEBHOOK_PLAIN: &str = "whsec_e2e_SECRET_9898";

fn no_workers() -> Workers {
    Workers { procs: Vec::new() }
}

fn entry_for(shop: &str) -> pb::JobSpec {
    let mut s = test_spec(Service::OrderSync, 1, 1);
    s.shop = shop.into();
    s
}

fn code<T: std::fmt::Debug>(r: std::result::Result<T, tonic::Status>) -> (Code, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => (s.code(), s.message().to_owned()),
    }
}

#[tokio::test]
async fn shops_crud_refuses_stale_versions_and_never_shows_credentials() -> Result<()> {
    let test = "shops_crud";
    let db = TestDb::create().await?;
    // Debug logs: nothing at any level may carry a credential.
    let s = start_scheduler(test, "sched-a", &db, &no_workers(), &[("RUST_LOG", "debug")]).await?;
    let mut shops = shops(&s).await?;
    let mut q = queue(&s).await?;
    let mut answers = String::new();

    // Create, with credentials; the same request again gets the same shop.
    let mut req = shop_request("acme", "acme.myshopify.com");
    req.access_token = TOKEN_PLAIN.into();
    req.webhook_secret = WEBHOOK_PLAIN.into();
    req.request_id = uuid::Uuid::new_v4().to_string();
    let created = shops.create_shop(req.clone()).await?.into_inner();
    answers.push_str(&format!("{created:?}"));
    assert!(created.has_access_token && created.has_webhook_secret && created.enabled);
    assert_eq!((created.version, created.key_id.as_str()), (1, "test-1"));
    assert!(created.settings.as_ref().unwrap().allow_background_syncs, "defaults");
    let again = shops.create_shop(req.clone()).await?.into_inner();
    assert_eq!(again.created_at, created.created_at);
    req.request_id = String::new();
    assert_eq!(code(shops.create_shop(req.clone()).await).0, Code::AlreadyExists);

    // Bad input names its field.
    let mut bad = shop_request("bad", "not a domain");
    assert!(code(shops.create_shop(bad.clone()).await).1.contains("shop.store_domain"));
    bad = shop_request("bad", "bad.myshopify.com");
    bad.access_token = "a\0b".into();
    assert!(code(shops.create_shop(bad).await).1.starts_with("access_token"));

    // Update at the current version; a stale version is refused and changes nothing.
    let mut shop = shops.get_shop(pb::GetShopRequest { name: "acme".into() }).await?.into_inner();
    answers.push_str(&format!("{shop:?}"));
    shop.settings.as_mut().unwrap().auto_release = true;
    let updated = shops
        .update_shop(pb::UpdateShopRequest {
            name: "acme".into(),
            expected_version: 1,
            shop: Some(shop.clone()),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(updated.version, 2);
    assert!(updated.settings.as_ref().unwrap().auto_release);
    assert!(updated.has_access_token, "credentials kept when not given");
    shop.plan = pb::ShopPlan::Plus as i32;
    let (c, m) = code(
        shops
            .update_shop(pb::UpdateShopRequest {
                name: "acme".into(),
                expected_version: 1,
                shop: Some(shop.clone()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(c, Code::Aborted, "{m}");
    assert!(m.contains("version 2"), "{m}");
    let now = shops.get_shop(pb::GetShopRequest { name: "acme".into() }).await?.into_inner();
    assert_eq!((now.version, now.plan), (2, pb::ShopPlan::Standard as i32));
    shop.settings.as_mut().unwrap().locations = vec![pb::LocationMapping {
        shopify_location_id: "gid://shopify/Location/1".into(),
        ..Default::default()
    }];
    let (c, m) = code(
        shops
            .update_shop(pb::UpdateShopRequest {
                name: "acme".into(),
                expected_version: 2,
                shop: Some(shop),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("shop.settings.locations[0].erp_location_filter"), "{m}");

    // Entries: an unknown shop is refused naming the field; a disabled one too, until it is
    // enabled again.
    let (c, m) = code(q.create_entry(entry_req("nope")).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("spec.shop") && m.contains("not known"), "{m}");
    q.create_entry(entry_req("acme")).await?;
    let disabled = shops
        .set_shop_enabled(pb::SetShopEnabledRequest {
            name: "acme".into(),
            expected_version: 2,
            enabled: false,
        })
        .await?
        .into_inner();
    assert!(!disabled.enabled);
    let (c, m) = code(q.create_entry(entry_req("acme")).await);
    assert!(c == Code::InvalidArgument && m.contains("disabled"), "{m}");
    assert_eq!(
        shops.list_shops(pb::ListShopsRequest::default()).await?.into_inner().shops.len(),
        3
    );
    let all =
        shops.list_shops(pb::ListShopsRequest { include_disabled: true }).await?.into_inner().shops;
    answers.push_str(&format!("{all:?}"));
    assert_eq!(all.len(), FIXTURE_SHOPS.len() + 1);
    shops
        .set_shop_enabled(pb::SetShopEnabledRequest {
            name: "acme".into(),
            expected_version: 3,
            enabled: true,
        })
        .await?;
    q.create_entry(entry_req("acme")).await?;

    // The CLI shows a shop and creates one with the token from the environment.
    let o = cli_with_token(&s.url(), &["shops", "show", "acme"]).await?;
    answers.push_str(&o);
    assert!(o.contains("acme.myshopify.com") && o.contains("set (test-1)"), "{o}");
    let o = cli_with_token(
        &s.url(),
        &[
            "shops",
            "create",
            "cli-shop",
            "--domain",
            "cli-shop.myshopify.com",
            "--settings",
            r#"{"auto_release": true}"#,
        ],
    )
    .await?;
    answers.push_str(&o);
    assert!(o.contains("\"auto_release\": true") && o.contains("set (test-1)"), "{o}");

    // Credentials: never in an answer, never in the log, never stored in plain text.
    let log = s.log_text();
    assert!(log.contains("shop created"), "the log is read");
    for secret in [TOKEN_PLAIN, WEBHOOK_PLAIN] {
        assert!(!answers.contains(secret), "an answer shows a credential");
        assert!(!log.contains(secret), "the log shows a credential");
    }
    let pool = db.pool().await?;
    let (token, webhook): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT access_token, webhook_secret FROM shops.shops WHERE name = 'acme'")
            .fetch_one(&pool)
            .await?;
    for (stored, plain) in [(&token, TOKEN_PLAIN), (&webhook, WEBHOOK_PLAIN)] {
        assert!(!String::from_utf8_lossy(stored).contains(&plain[5..]), "stored in plain text");
    }
    Ok(())
}

fn entry_req(shop: &str) -> pb::CreateEntryRequest {
    pb::CreateEntryRequest { spec: Some(entry_for(shop)), ..Default::default() }
}

async fn cli_with_token(sched: &str, args: &[&str]) -> Result<String> {
    let o = tokio::process::Command::new(bin("shopsync")?)
        .args(["--scheduler", sched, "--token", TOKEN])
        .args(args)
        .env("SHOPSYNC_SHOP_ACCESS_TOKEN", TOKEN_PLAIN)
        .env("SHOPSYNC_SHOP_WEBHOOK_SECRET", WEBHOOK_PLAIN)
        .output()
        .await?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    anyhow::ensure!(o.status.success(), "shopsync {args:?} failed: {text}");
    Ok(text)
}

/// A simulator process serving one shop with `token`.
async fn start_sim(test: &str, shop: &str, token: &str) -> Result<Proc> {
    let addr = free_addr()?;
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-logs").join(test);
    std::fs::create_dir_all(&dir)?;
    let log = dir.join("shopify-sim.log");
    let file = std::fs::File::create(&log)?;
    let child = tokio::process::Command::new(bin("shopify-sim")?)
        .args(["--listen", &addr.to_string(), "--shop", &format!("{shop}:{token}")])
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .context("starting shopify-sim")?;
    Ok(Proc::from_child("shopify-sim", addr, child, log))
}

#[tokio::test]
async fn a_run_gets_its_shop_with_opened_credentials_and_a_working_client() -> Result<()> {
    let test = "shops_context";
    let db = TestDb::create().await?;
    let s = start_scheduler(test, "sched-a", &db, &no_workers(), &[]).await?;
    let sim = start_sim(test, "acme", TOKEN_PLAIN).await?;
    let mut shops = shops(&s).await?;
    let mut req = shop_request("acme", &sim.url());
    req.access_token = TOKEN_PLAIN.into();
    req.webhook_secret = WEBHOOK_PLAIN.into();
    shops.create_shop(req).await?;

    let keyring = Keyring::parse(&SecretString::from(TEST_SECRET_KEYS.to_owned()))?;
    let config = |keyring| ShopContextConfig {
        shops_url: s.url(),
        posting_url: "http://127.0.0.1:9".into(),
        keyring,
    };
    let auth = shopsync_runtime::ClientAuth::new(Some(&secret())).map_err(anyhow::Error::msg)?;
    let contexts = ShopContexts::new(config(keyring), auth.clone(), None)?;
    let ctx = contexts.get("acme").await?;
    assert_eq!(ctx.shop.name, "acme");
    assert_eq!(
        ctx.webhook_secret().map(|w| w.expose_secret().to_owned()).as_deref(),
        Some(WEBHOOK_PLAIN)
    );
    // The opened token works against the simulator (which knows only the real one).
    let shop = eventually(Duration::from_secs(10), || async {
        Ok(ctx.shopify.execute(&shopsync_shopify::documents::SHOP, serde_json::json!({})).await?)
    })
    .await?;
    assert!(shop.data["shop"]["myshopifyDomain"].is_string(), "{:?}", shop.data);
    // The same version gives the same context (and client, and budget).
    assert!(std::sync::Arc::ptr_eq(&ctx, &contexts.get("acme").await?));

    assert!(matches!(contexts.get("nope").await, Err(ShopContextError::Unknown(_))));
    shops
        .set_shop_enabled(pb::SetShopEnabledRequest {
            name: "acme".into(),
            expected_version: 1,
            enabled: false,
        })
        .await?;
    let e = contexts.get("acme").await.unwrap_err();
    assert!(matches!(e, ShopContextError::Disabled(_)) && !e.retryable(), "{e}");
    // Another keyring cannot open the credentials.
    let (other, _) = Keyring::generate("test-1");
    let stranger = ShopContexts::new(config(other), auth, None)?;
    shops
        .set_shop_enabled(pb::SetShopEnabledRequest {
            name: "acme".into(),
            expected_version: 2,
            enabled: true,
        })
        .await?;
    assert!(matches!(stranger.get("acme").await, Err(ShopContextError::Secret { .. })));
    drop(sim);
    Ok(())
}

fn item_link(erp: &str, variant: &str, n: u32) -> pb::Link {
    pb::Link {
        kind: pb::LinkKind::Item as i32,
        erp_id: erp.into(),
        erp_variant: variant.into(),
        shopify_id: format!("gid://shopify/ProductVariant/{n}"),
        shopify_parent_id: "gid://shopify/Product/1".into(),
        shopify_inventory_item_id: format!("gid://shopify/InventoryItem/{n}"),
        updated_at: None,
    }
}

#[tokio::test]
async fn links_and_cursors_round_trip() -> Result<()> {
    let test = "shops_links_cursors";
    let db = TestDb::create().await?;
    let s = start_scheduler(test, "sched-a", &db, &no_workers(), &[]).await?;
    let mut shops = shops(&s).await?;
    let put = |links: Vec<pb::Link>| pb::PutLinksRequest { shop: "shop-1".into(), links };

    // Links: upsert by the ERP side, exact lookups both ways.
    let r = shops
        .put_links(put(vec![
            item_link("MUG", "", 1),
            item_link("TEE", "RED", 2),
            item_link("TEE", "BLUE", 3),
        ]))
        .await?
        .into_inner();
    assert_eq!((r.inserted, r.updated, r.unchanged), (3, 0, 0));
    let r = shops
        .put_links(put(vec![item_link("MUG", "", 1), item_link("TEE", "RED", 4)]))
        .await?
        .into_inner();
    assert_eq!((r.inserted, r.updated, r.unchanged), (0, 1, 1));
    let found = shops
        .lookup_links(pb::LookupLinksRequest {
            shop: "shop-1".into(),
            kind: pb::LinkKind::Item as i32,
            erp_keys: vec![
                pb::ErpKey { erp_id: "TEE".into(), erp_variant: "RED".into() },
                pb::ErpKey { erp_id: "NONE".into(), erp_variant: String::new() },
            ],
            shopify_ids: vec![],
        })
        .await?
        .into_inner()
        .links;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].shopify_inventory_item_id, "gid://shopify/InventoryItem/4");
    let by_shopify = shops
        .lookup_links(pb::LookupLinksRequest {
            shop: "shop-1".into(),
            kind: pb::LinkKind::Item as i32,
            erp_keys: vec![],
            shopify_ids: vec!["gid://shopify/ProductVariant/3".into()],
        })
        .await?
        .into_inner()
        .links;
    assert_eq!(
        (by_shopify[0].erp_id.as_str(), by_shopify[0].erp_variant.as_str()),
        ("TEE", "BLUE")
    );
    // A Shopify id linked to another ERP record: refused, the conflict named, nothing written.
    let (c, m) =
        code(shops.put_links(put(vec![item_link("CUP", "", 5), item_link("NEW", "", 1)])).await);
    assert_eq!(c, Code::FailedPrecondition);
    assert!(m.contains("gid://shopify/ProductVariant/1") && m.contains("MUG"), "{m}");
    // Kinds check their ids.
    let mut wrong = item_link("X", "", 9);
    wrong.kind = pb::LinkKind::Customer as i32;
    let (c, m) = code(shops.put_links(put(vec![wrong])).await);
    assert!(c == Code::InvalidArgument && m.starts_with("links[0]"), "{m}");
    // Pages and deletes.
    let page = |after: &str| pb::ListLinksRequest {
        shop: "shop-1".into(),
        kind: pb::LinkKind::Item as i32,
        page_size: 2,
        after: after.into(),
    };
    let p1 = shops.list_links(page("")).await?.into_inner();
    let p2 = shops.list_links(page(&p1.next_after)).await?.into_inner();
    assert_eq!((p1.links.len(), p2.links.len(), p2.next_after.as_str()), (2, 1, ""));
    let d = shops
        .delete_links(pb::DeleteLinksRequest {
            shop: "shop-1".into(),
            kind: pb::LinkKind::Item as i32,
            erp_keys: vec![pb::ErpKey { erp_id: "MUG".into(), erp_variant: String::new() }],
            shopify_ids: vec!["gid://shopify/ProductVariant/3".into()],
        })
        .await?
        .into_inner();
    assert_eq!(d.deleted, 2);
    shops.put_links(put(vec![item_link("CUP", "", 5), item_link("NEW", "", 1)])).await?;

    // Cursors: none stored reads as version 0; saves are compare-and-set on the version.
    let key =
        || Some(pb::CursorKey { shop: "shop-1".into(), resource: pb::SyncResource::Orders as i32 });
    let c0 = shops.get_cursor(key().unwrap()).await?.into_inner();
    assert_eq!((c0.version, c0.value.as_str()), (0, ""));
    let save = |value: &str, v: i64| pb::SaveCursorRequest {
        key: key(),
        value: value.into(),
        expected_version: v,
    };
    let c1 = shops.save_cursor(save("2026-12-01T00:00:00Z", 0)).await?.into_inner();
    assert_eq!(c1.version, 1);
    assert_eq!(code(shops.save_cursor(save("2026-12-02T00:00:00Z", 0)).await).0, Code::Aborted);
    let c2 = shops.save_cursor(save("2026-12-02T00:00:00Z", 1)).await?.into_inner();
    assert_eq!(c2.version, 2);
    // A reset (here from the CLI) wins over a run that read the cursor before it.
    let o =
        cli_with_token(&s.url(), &["cursors", "reset", "--shop", "shop-1", "--resource", "orders"])
            .await?;
    assert!(o.contains("from the beginning"), "{o}");
    assert_eq!(code(shops.save_cursor(save("2026-12-03T00:00:00Z", 2)).await).0, Code::Aborted);
    let o = cli_with_token(
        &s.url(),
        &[
            "cursors",
            "reset",
            "--shop",
            "shop-1",
            "--resource",
            "orders",
            "--to",
            "2026-01-01T00:00:00Z",
        ],
    )
    .await?;
    assert!(o.contains("2026-01-01T00:00:00Z"), "{o}");
    let listed =
        shops.list_cursors(pb::ListCursorsRequest { shop: "shop-1".into() }).await?.into_inner();
    assert_eq!(listed.cursors.len(), 1);
    assert_eq!(
        (listed.cursors[0].version, listed.cursors[0].value.as_str()),
        (4, "2026-01-01T00:00:00Z")
    );
    let (c, _) = code(shops.list_cursors(pb::ListCursorsRequest { shop: "nope".into() }).await);
    assert_eq!(c, Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn each_owner_applies_only_its_own_migrations() -> Result<()> {
    let test = "shops_migrations";
    let db = TestDb::create().await?;
    let _posting = start_worker(test, Service::Posting, &db).await?;
    let pool = db.pool().await?;
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname IN ('scheduler', 'shops', 'posting', 'shopify') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(schemas, ["posting"], "the posting service applied only its own migrations");
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM posting._sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await?;
    let own: Vec<i64> = shopsync_posting::MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(versions, own);

    // A database an older release migrated (every version in public._sqlx_migrations): the
    // scheduler adopts its versions instead of applying them again.
    let old = TestDb::create().await?;
    let old_pool = old.pool().await?;
    let legacy = sqlx::migrate::Migrator::with_migrations(
        shopsync_scheduler::MIGRATOR
            .iter()
            .filter(|m| m.version < 20261206000000)
            .cloned()
            .collect(),
    );
    legacy.run(&old_pool).await?;
    let _s = start_scheduler(test, "sched-a", &old, &no_workers(), &[]).await?;
    let adopted: i64 = sqlx::query_scalar("SELECT count(*) FROM scheduler._sqlx_migrations")
        .fetch_one(&old_pool)
        .await?;
    assert_eq!(adopted as usize, shopsync_scheduler::MIGRATOR.iter().count());
    Ok(())
}

/// The roles of `deploy/sql/roles.sql`, under names of this test's own (roles are global to
/// the cluster), as SQL without psql's meta-commands.
fn roles_sql(prefix: &str, db: &str) -> Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/sql/roles.sql");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('\\'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("shopsync_", prefix)
        .replace(":\"db\"", &format!("\"{db}\"")))
}

#[tokio::test]
async fn services_run_as_roles_that_reach_only_their_own_schemas() -> Result<()> {
    let test = "shops_roles";
    let db = TestDb::create().await?;
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let prefix = format!("r{}_", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let admin = db.pool().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(roles_sql(&prefix, &name)?)).execute(&admin).await?;
    let as_role = |role: &str| db.url.replacen("://postgres@", &format!("://{prefix}{role}@"), 1);
    anyhow::ensure!(as_role("x") != db.url, "the test database URL is not postgres://postgres@…");

    // Each service migrates and serves as its own role.
    let posting = spawn(Spawn {
        binary: "shopsync-posting",
        name: "posting",
        test,
        env: vec![
            ("SHOPSYNC_SERVICE_TOKEN".into(), TOKEN.into()),
            ("SHOPSYNC_DATABASE_URL".into(), as_role("posting")),
        ],
    })
    .await?;
    let sched = spawn(Spawn {
        binary: "shopsync-scheduler",
        name: "scheduler",
        test,
        env: vec![
            ("SHOPSYNC_SERVICE_TOKEN".into(), TOKEN.into()),
            ("SHOPSYNC_DATABASE_URL".into(), as_role("scheduler")),
            ("SHOPSYNC_SECRET_KEYS".into(), TEST_SECRET_KEYS.into()),
        ],
    })
    .await?;
    shops(&sched).await?.create_shop(shop_request("roles", "roles.myshopify.com")).await?;
    let (mut erp, _) = erp_clients(&posting).await?;
    erp.create_location(pb::Location { code: "MAIN".into(), ..Default::default() }).await?;

    // Neither reaches the other's schema.
    for (role, foreign) in [
        ("posting", "SELECT count(*) FROM scheduler.entries"),
        ("posting", "SELECT count(*) FROM shops.shops"),
        ("scheduler", "SELECT count(*) FROM posting.locations"),
    ] {
        let pool = sqlx::PgPool::connect(&as_role(role)).await?;
        let e = sqlx::query(foreign).execute(&pool).await.unwrap_err();
        assert!(e.to_string().contains("permission denied"), "{role}: {foreign}: {e}");
        pool.close().await;
    }
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM posting.locations")
        .fetch_one(&sqlx::PgPool::connect(&as_role("posting")).await?)
        .await?;
    assert_eq!(own, 1);

    drop((posting, sched, admin));
    drop(db);
    let c = sqlx::PgPool::connect(&admin_url()).await?;
    for role in ["scheduler", "posting", "sync"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {prefix}{role}")))
            .execute(&c)
            .await?;
    }
    Ok(())
}
