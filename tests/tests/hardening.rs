//! What a generic gRPC client sees at the edges: strings with NUL bytes or of any size,
//! a database outage, and server reflection. Real binaries, real PostgreSQL.
#![allow(clippy::unwrap_used)]

use anyhow::{Context, Result, bail, ensure};
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::collections::BTreeSet;
use std::time::Duration;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// A refusal that names the field, and whose message is short whatever was sent.
fn refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, field: &str) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{field}: {}", e.message());
    assert!(e.message().starts_with(&format!("{field}: ")), "{field}: {}", e.message());
    assert!(e.message().len() < 160, "a long message: {}", e.message());
    e.message().to_owned()
}

#[tokio::test]
async fn nul_bytes_and_oversize_strings_are_refused_naming_the_field() -> Result<()> {
    let test = "text_limits";
    let db = TestDb::create().await?;
    let posting = start_worker(test, Service::Posting, &db).await?;
    let s = start_scheduler(test, "sched", &db, &Workers { procs: Vec::new() }, &[]).await?;
    let mut q = queue(&s).await?;
    let (mut erp, mut post) = erp_clients(&posting).await?;
    let mb = "x".repeat(1 << 20);

    // JobQueue: the spec's free text, its parameters, the request's own fields.
    let with = |f: &dyn Fn(&mut pb::CreateEntryRequest)| {
        let mut r = pb::CreateEntryRequest {
            spec: Some(test_spec(Service::OrderSync, 1, 1)),
            ..Default::default()
        };
        f(&mut r);
        r
    };
    fn spec(r: &mut pb::CreateEntryRequest) -> &mut pb::JobSpec {
        r.spec.as_mut().unwrap()
    }
    let m = refused(
        q.create_entry(with(&|r| spec(r).description = "night\0run".into())).await,
        "spec.description",
    );
    assert!(m.contains("NUL"), "{m}");
    let m = refused(
        q.create_entry(with(&|r| spec(r).created_by = mb.clone())).await,
        "spec.created_by",
    );
    assert_eq!(m, "spec.created_by: at most 255 characters");
    refused(q.create_entry(with(&|r| r.request_id = "key\0".into())).await, "request_id");
    refused(
        q.create_entry(with(&|r| {
            test_params_mut(spec(r)).writes = vec!["orders".into(), "\0".into()]
        }))
        .await,
        "spec.params.test.writes[1]",
    );
    refused(q.create_entry(with(&|r| spec(r).shop = mb.clone())).await, "spec.shop");
    // A bad value within the limit is quoted by a short prefix only.
    let m = refused(q.create_entry(with(&|r| spec(r).shop = "y ".repeat(120))).await, "spec.shop");
    assert!(m.contains("\"… (") && m.contains(" characters) is not a shop code"), "{m}");
    refused(q.get_entry(pb::GetEntryRequest { id: mb.clone() }).await, "id");
    refused(
        q.list_entries(pb::ListEntriesRequest { category: "A\0".into(), ..Default::default() })
            .await,
        "category",
    );
    refused(
        q.cancel_run(pb::EntryRef {
            id: uuid::Uuid::new_v4().to_string(),
            requested_by: mb.clone(),
        })
        .await,
        "requested_by",
    );
    // Nothing of it was stored, and a valid create still works.
    let listed = q.list_entries(pb::ListEntriesRequest::default()).await?.into_inner();
    ensure!(listed.entries.is_empty(), "{} entries stored", listed.entries.len());
    create(&mut q, test_spec(Service::OrderSync, 1, 1)).await?;

    // Erp and Posting.
    let item = |f: &dyn Fn(&mut pb::Item)| {
        let mut i = pb::Item { no: "A".into(), currency: "EUR".into(), ..Default::default() };
        f(&mut i);
        i
    };
    refused(erp.create_item(item(&|i| i.description = "mug\0".into())).await, "description");
    refused(
        erp.create_item(item(&|i| {
            i.variants =
                vec![pb::ItemVariant { code: "RED".into(), sku: mb.clone(), ..Default::default() }]
        }))
        .await,
        "variants[0].sku",
    );
    refused(
        erp.create_customer(pb::Customer {
            no: "C1".into(),
            name: mb.clone(),
            currency: "EUR".into(),
            ..Default::default()
        })
        .await,
        "name",
    );
    refused(erp.get_item(pb::GetRequest { no: mb.clone() }).await, "no");
    refused(
        erp.create_sales_document(pb::CreateSalesDocumentRequest {
            document: Some(pb::SalesDocument {
                lines: vec![pb::SalesLine { description: "\0".into(), ..Default::default() }],
                ..Default::default()
            }),
            release: false,
        })
        .await,
        "document.lines[0].description",
    );
    refused(
        erp.find_customers(pb::FindCustomersRequest {
            emails: vec![mb.clone()],
            ..Default::default()
        })
        .await,
        "emails[0]",
    );
    refused(
        post.record_fulfillment_result(pb::FulfillmentResultRequest {
            shipment_no: "SSH000001".into(),
            result: Some(pb::fulfillment_result_request::Result::Failed(mb.clone())),
        })
        .await,
        "failed",
    );
    refused(
        post.list_posted_shipments(pb::ListPostedRequest {
            shop: "s\0".into(),
            ..Default::default()
        })
        .await,
        "shop",
    );
    // An unknown key is quoted by a short prefix too.
    let e = erp.get_item(pb::GetRequest { no: "z".repeat(200) }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().len() < 100, "{}", e.message());
    Ok(())
}

async fn reflection_lists(p: &Proc) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let ch = tonic::transport::Endpoint::from_shared(p.url())?.connect().await?;
    let v1 = {
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut c = ServerReflectionClient::new(ch.clone());
        let mut s = c.server_reflection_info(tokio_stream::iter(vec![req])).await?.into_inner();
        match s.message().await?.context("no v1 answer")?.message_response {
            Some(MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => bail!("v1: {other:?}"),
        }
    };
    let v1alpha = {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut c = ServerReflectionClient::new(ch);
        let mut s = c.server_reflection_info(tokio_stream::iter(vec![req])).await?.into_inner();
        match s.message().await?.context("no v1alpha answer")?.message_response {
            Some(MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => bail!("v1alpha: {other:?}"),
        }
    };
    Ok((v1, v1alpha))
}

/// Whether v1 reflection can describe `symbol` (the file that defines it).
async fn describes(p: &Proc, symbol: &str) -> Result<bool> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let ch = tonic::transport::Endpoint::from_shared(p.url())?.connect().await?;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    };
    let mut c = ServerReflectionClient::new(ch);
    let mut s = c.server_reflection_info(tokio_stream::iter(vec![req])).await?.into_inner();
    let answer = match s.message().await {
        Err(e) if e.code() == Code::NotFound => return Ok(false),
        a => a?.context("no answer")?,
    };
    match answer.message_response {
        Some(MessageResponse::FileDescriptorResponse(f)) => Ok(!f.file_descriptor_proto.is_empty()),
        Some(MessageResponse::ErrorResponse(_)) => Ok(false),
        other => bail!("{other:?}"),
    }
}

#[tokio::test]
async fn each_binary_reflects_exactly_what_it_serves_on_v1_and_v1alpha() -> Result<()> {
    let test = "reflection";
    let db = TestDb::create().await?;
    let order_sync = start_worker(test, Service::OrderSync, &db).await?;
    let posting = start_worker(test, Service::Posting, &db).await?;
    let s = start_scheduler(test, "sched", &db, &Workers { procs: Vec::new() }, &[]).await?;
    let common = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    let set = |own: &[&str]| -> BTreeSet<String> {
        own.iter().chain(common.iter()).map(|s| (*s).to_owned()).collect()
    };
    for (p, own) in [
        (&s, set(&["shopsync.v1.JobQueue", "shopsync.v1.Shops"])),
        (&order_sync, set(&["shopsync.v1.Worker", "shopsync.v1.Cues"])),
        (&posting, set(&["shopsync.v1.Worker", "shopsync.v1.Erp", "shopsync.v1.Posting"])),
    ] {
        let (v1, v1alpha) = reflection_lists(p).await?;
        assert_eq!(v1, own, "{} (v1)", p.name);
        assert_eq!(v1alpha, own, "{} (v1alpha)", p.name);
    }
    assert!(describes(&s, "shopsync.v1.JobQueue").await?);
    assert!(describes(&s, "shopsync.v1.JobSpec").await?, "messages of its own API");
    assert!(!describes(&s, "shopsync.v1.Erp").await?, "the scheduler does not serve Erp");
    assert!(!describes(&order_sync, "shopsync.v1.JobQueue").await?);
    assert!(describes(&order_sync, "shopsync.v1.Cues").await?);
    assert!(describes(&posting, "shopsync.v1.Erp").await?);
    for svc in common {
        assert!(describes(&order_sync, svc).await?, "{svc}");
    }
    Ok(())
}

/// The named services' health, all the same, and liveness.
async fn health_of(p: &Proc, services: &[&str]) -> Result<(ServingStatus, ServingStatus)> {
    let all = health_status(p, "").await?;
    for s in services {
        let st = health_status(p, s).await?;
        ensure!(st == all, "{}: {s} is {st:?}, the server {all:?}", p.name);
    }
    Ok((all, health_status(p, "liveness").await?))
}

#[tokio::test]
async fn a_database_outage_answers_unavailable_and_health_follows_the_database() -> Result<()> {
    let test = "db_outage";
    let pg = PgCluster::start().await?;
    let env = |name: &str| {
        vec![
            ("SHOPSYNC_DATABASE_URL".to_owned(), pg.url()),
            ("SHOPSYNC_SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
            ("SHOPSYNC_REPLICA_NAME".to_owned(), name.to_owned()),
            ("SHOPSYNC_HEALTH_CHECK_MS".to_owned(), "200".to_owned()),
        ]
    };
    let s = spawn(Spawn { binary: "shopsync-scheduler", name: "sched", test, env: env("sched") })
        .await?;
    create_fixture_shops(&s).await?;
    let p = spawn(Spawn { binary: "shopsync-posting", name: "posting", test, env: env("posting") })
        .await?;
    let mut q = queue(&s).await?;
    let (mut erp, _) = erp_clients(&p).await?;
    let location =
        |code: &str| pb::Location { code: code.into(), name: code.into(), ..Default::default() };
    create(&mut q, test_spec(Service::OrderSync, 1, 1)).await?;
    erp.create_location(location("MAIN")).await?;
    let sched_apis = ["shopsync.v1.JobQueue"];
    let posting_apis = ["shopsync.v1.Erp", "shopsync.v1.Posting", "shopsync.v1.Worker"];
    assert_eq!(health_of(&s, &sched_apis).await?.0, ServingStatus::Serving);
    assert_eq!(health_of(&p, &posting_apis).await?.0, ServingStatus::Serving);

    pg.stop().await?;
    // Both notice on their own, and stay alive.
    for (proc_, apis) in [(&s, &sched_apis[..]), (&p, &posting_apis[..])] {
        eventually(Duration::from_secs(15), || async move {
            let (all, live) = health_of(proc_, apis).await?;
            ensure!(all == ServingStatus::NotServing, "{}: {all:?}", proc_.name);
            ensure!(live == ServingStatus::Serving, "{}: liveness {live:?}", proc_.name);
            Ok(())
        })
        .await?;
    }
    // Creates are refused as retryable, not as internal errors.
    let e = q
        .create_entry(pb::CreateEntryRequest {
            spec: Some(test_spec(Service::OrderSync, 1, 1)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    let e = erp.create_location(location("EAST")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
    let e = erp.get_location(pb::GetRequest { no: "MAIN".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{}", e.message());

    pg.start_again().await?;
    for (proc_, apis) in [(&s, &sched_apis[..]), (&p, &posting_apis[..])] {
        eventually(Duration::from_secs(20), || async move {
            let (all, _) = health_of(proc_, apis).await?;
            ensure!(all == ServingStatus::Serving, "{}: {all:?}", proc_.name);
            Ok(())
        })
        .await?;
    }
    // Serving again: a connection the restart broke may answer UNAVAILABLE once more, never
    // anything else.
    let seen = std::sync::Mutex::new(Vec::new());
    eventually(Duration::from_secs(20), || {
        let mut q = q.clone();
        let mut erp = erp.clone();
        let seen = &seen;
        async move {
            let r = q
                .create_entry(pb::CreateEntryRequest {
                    spec: Some(test_spec(Service::OrderSync, 1, 1)),
                    ..Default::default()
                })
                .await
                .map(|_| ());
            let r = match r {
                Ok(()) => erp.create_location(location("EAST")).await.map(|_| ()),
                e => e,
            };
            match r {
                Ok(()) => Ok(()),
                Err(e) => {
                    seen.lock().unwrap().push(e.code());
                    bail!("{:?}: {}", e.code(), e.message())
                }
            }
        }
    })
    .await?;
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().all(|c| *c == Code::Unavailable), "{seen:?}");
    let listed = q.list_entries(pb::ListEntriesRequest::default()).await?.into_inner();
    assert_eq!(listed.entries.len(), 2);
    Ok(())
}

#[tokio::test]
async fn list_pages_stay_within_a_default_clients_message_limit() -> Result<()> {
    let test = "page_bytes";
    let db = TestDb::create().await?;
    let s = start_scheduler(test, "sched", &db, &Workers { procs: Vec::new() }, &[]).await?;
    let mut q = queue(&s).await?;
    // The longest an entry may be: 1000 tags of 255 characters, about 255 KB; 20 of them
    // are 5 MB, more than a default client takes in one message (4 MiB).
    let tags: Vec<String> = (0..1000).map(|i| format!("{i:04}{}", "t".repeat(251))).collect();
    for _ in 0..20 {
        let mut spec = test_spec(Service::OrderSync, 1, 1);
        spec.params = Some(pb::TaskParams {
            params: Some(pb::task_params::Params::SyncOrders(pb::SyncOrdersParams {
                tags: tags.clone(),
                ..Default::default()
            })),
        });
        q.create_entry(pb::CreateEntryRequest {
            spec: Some(spec),
            on_hold: true,
            ..Default::default()
        })
        .await?;
    }
    let (mut seen, mut pages, mut token) = (0, 0, String::new());
    loop {
        let r = q
            .list_entries(pb::ListEntriesRequest {
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        seen += r.entries.len();
        pages += 1;
        if r.next_page_token.is_empty() {
            break;
        }
        token = r.next_page_token;
    }
    assert_eq!(seen, 20);
    assert!(pages > 1, "one page of 5 MB");
    Ok(())
}
