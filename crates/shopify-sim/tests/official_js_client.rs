//! Shopify's official JS client (`@shopify/admin-api-client`, tests/js) runs queries and a
//! mutation against the simulator unchanged. `make test` installs it (npm ci); without
//! Node.js on the machine the test says so and passes nothing off as checked.

#![allow(clippy::unwrap_used)] // test fixtures

use shopsync_shopify_sim::{Sim, SimConfig};
use std::path::Path;
use std::process::Command;

#[tokio::test]
async fn the_official_js_client_works_unchanged() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js");
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("SKIPPED: Node.js is not installed, so the official JS client was not run");
        return;
    }
    assert!(
        js.join("node_modules/@shopify/admin-api-client").exists(),
        "run `npm ci --prefix tests/js` first (make test does)"
    );
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("jsdemo", "shpat_js_0123456789", "standard").unwrap();
    sim.shop("jsdemo").unwrap().lock().unwrap().seed(3, 12, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim, listener, stop.clone()));
    let out = tokio::process::Command::new("node")
        .args(["--test", "official-client.test.mjs"])
        .current_dir(&js)
        .env("SIM_URL", &url)
        .env("SIM_TOKEN", "shpat_js_0123456789")
        .output()
        .await
        .unwrap();
    stop.cancel();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("# pass 4") && text.contains("# fail 0"), "{text}");
}
