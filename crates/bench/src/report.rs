//! The results table: one function per scenario adds its rows (result, target, met).

use comfy_table::Table;
use serde_json::Value;

/// A number of a result (NaN when missing).
pub fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The range of a median of several rounds (empty for one round).
fn range(v: &Value) -> String {
    match v["rounds"].as_array().map(Vec::len) {
        Some(n) if n > 1 => format!(
            " (median of {n}: {:.0}–{:.0})",
            f(v, "min_jobs_per_sec"),
            f(v, "max_jobs_per_sec")
        ),
        _ => String::new(),
    }
}

/// (a), (b), (c): the job queue, from the queue results `r`.
pub fn queue(t: &mut Table, r: &Value) {
    if let Some(a) = r.get("drain_in_process") {
        let ours = f(a, "jobs_per_sec");
        t.add_row([
            format!("(a) drain {} no-op jobs in-process", a["jobs"]),
            format!("{ours:.0} jobs/s{}", range(a)),
            "≥ 20,000 jobs/s".into(),
            (ours >= 20_000.0).to_string(),
        ]);
        if let Some(rv) = r.get("river") {
            let theirs = f(rv, "jobs_per_sec");
            t.add_row([
                "    River (riverqueue bench, same server)".into(),
                format!("{theirs:.0} jobs/s{}", range(rv)),
                String::new(),
                String::new(),
            ]);
            let ratio = ours / theirs;
            let per_round = r["ratio_per_round"]
                .as_array()
                .filter(|v| v.len() > 1)
                .map(|v| {
                    let each: Vec<String> = v
                        .iter()
                        .map(|x| format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)))
                        .collect();
                    format!(" (rounds: {})", each.join(", "))
                })
                .unwrap_or_default();
            t.add_row([
                "    ratio shopsync / River (medians)".into(),
                format!("{ratio:.2}×{per_round}"),
                "≥ 1.5×".into(),
                (ratio >= 1.5).to_string(),
            ]);
        }
    }
    if let Some(b) = r.get("grpc_end_to_end") {
        let v = f(b, "jobs_per_sec");
        t.add_row([
            format!("(b) {} jobs through a gRPC no-op worker", b["jobs"]),
            format!("{v:.0} jobs/s"),
            "≥ 10,000 jobs/s".into(),
            (v >= 10_000.0).to_string(),
        ]);
    }
    if let Some(c) = r.get("pickup_latency") {
        let p99 = f(c, "p99_ms");
        t.add_row([
            format!("(c) pickup latency at {:.0} jobs/s offered", f(c, "offered_per_sec")),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, {} creates refused",
                f(c, "p50_ms"),
                p99,
                c["creates_failed"]
            ),
            "p99 ≤ 15 ms".into(),
            (p99 <= 15.0 && c["creates_failed"] == 0).to_string(),
        ]);
        t.add_row([
            "    create call, client round trip".into(),
            format!("p50 {:.1} ms, p99 {:.1} ms", f(c, "create_p50_ms"), f(c, "create_p99_ms")),
            String::new(),
            String::new(),
        ]);
    }
}

/// (s): the Shopify client against the simulator.
pub fn shopify(t: &mut Table, s: &Value) {
    let ratio = f(s, "ratio_of_ceiling");
    t.add_row([
        format!(
            "(s) Shopify client vs simulator, {:.0} simulated s, Standard plan",
            f(s, "simulated_seconds")
        ),
        format!(
            "{:.1} points/s = {:.1} % of ceiling, {} THROTTLED",
            f(s, "points_per_simulated_second"),
            ratio * 100.0,
            s["throttled_answers"]
        ),
        "≥ 90 %, 0 THROTTLED to callers".into(),
        (ratio >= 0.9 && s["errors_reaching_caller"] == 0).to_string(),
    ]);
}

/// (e): ERP documents created and posted.
pub fn erp(t: &mut Table, e: &Value) {
    let created = f(e, "orders_created_per_sec");
    let posted = f(e, "documents_posted_per_sec");
    t.add_row([
        format!("(e) create {} sales orders of 3 lines via gRPC", e["orders"]),
        format!("{created:.0} orders/s"),
        "≥ 2,000 orders/s".into(),
        (created >= 2000.0).to_string(),
    ]);
    let batched = f(e, "orders_created_per_sec_batched");
    t.add_row([
        format!("    the same via CreateSalesDocuments, {} per call", e["batch_size"]),
        format!("{batched:.0} orders/s"),
        "≥ 2,000 orders/s".into(),
        (batched >= 2000.0).to_string(),
    ]);
    t.add_row([
        "    batch-post them as one job (ship + invoice)".into(),
        format!("{posted:.0} documents/s"),
        "≥ 1,000 documents/s".into(),
        (posted >= 1000.0).to_string(),
    ]);
}

/// (o): order sync (steady state, backlog, initial load).
pub fn orders(t: &mut Table, o: &Value) {
    let a = &o["steady_state"];
    let req = f(a, "requested_points_per_order");
    let reference = f(&o["reference"], "measured_fitted_requested_points_per_order");
    t.add_row([
        format!("(o-a) {} orders over a simulated day, sync every 5 min", o["orders"]),
        format!(
            "{req:.1} requested / {:.1} actual points per order (reference {reference:.0}), {} failed runs",
            f(a, "actual_points_per_order"),
            a["failed_runs"]
        ),
        "≤ 14 requested per order".into(),
        (req <= 14.0 && a["failed_runs"] == 0).to_string(),
    ]);
    let l = &o["linear_cost_model"];
    let ours = f(l, "requested_points_per_order");
    let theirs = f(l, "reference_requested_points_per_order");
    t.add_row([
        "    linear cost model: ours vs the reference".into(),
        format!("{ours:.1} vs {theirs:.1} requested points per order"),
        "≤ half the reference".into(),
        (ours <= theirs / 2.0).to_string(),
    ]);
    let b = &o["backlog"];
    let per_hour = f(b, "orders_per_hour");
    let share = f(b, "share_of_ceiling");
    t.add_row([
        format!("(o-b) backlog of {} orders, one sync now", o["orders"]),
        format!(
            "{per_hour:.0} orders/h, {:.1} % of ceiling (while requesting), {} THROTTLED to the job",
            share * 100.0,
            b["throttled_reaching_the_job"]
        ),
        "≥ 100,000/h, ≥ 90 %, 0".into(),
        (per_hour >= 100_000.0 && share >= 0.9 && b["throttled_reaching_the_job"] == 0)
            .to_string(),
    ]);
    let c = &o["initial_load"];
    let secs = f(c, "simulated_seconds");
    t.add_row([
        format!("(o-c) initial load of {} historical orders", o["orders"]),
        format!("{secs:.0} simulated s, {:.0} points", f(c, "actual_points")),
        "< 300 simulated s".into(),
        (secs < 300.0).to_string(),
    ]);
}

/// (o-w): webhook to sales document.
pub fn webhooks(t: &mut Table, w: &Value) {
    let p99 = f(w, "p99_ms");
    t.add_row([
        format!(
            "(o-w) webhook → sales document, {} orders at {:.0}/s",
            w["orders"],
            f(w, "offered_orders_per_sec")
        ),
        format!(
            "p50 {:.0} ms, p99 {p99:.0} ms, {} jobs for {} deliveries",
            f(w, "p50_ms"),
            w["webhook_jobs"],
            w["deliveries"]
        ),
        "p99 ≤ 5 s".into(),
        (p99 <= 5000.0 && w["failed_runs"] == 0).to_string(),
    ]);
}

/// (o-f): shipments to Shopify fulfillments.
pub fn fulfillments(t: &mut Table, x: &Value) {
    t.add_row([
        format!("(o-f) {} shipments → Shopify fulfillments, one Standard shop", x["shipments"]),
        format!(
            "{:.0} fulfillments/h, {:.1} requests and {:.1} points each, {:.1} % of the ceiling",
            f(x, "fulfillments_per_hour"),
            f(x, "requests_per_shipment"),
            f(x, "actual_points_per_shipment"),
            100.0 * f(x, "share_of_ceiling")
        ),
        "one fulfillment each".into(),
        (x["throttled_answers"] == 0).to_string(),
    ]);
}

/// (i): inventory sync.
pub fn inventory(t: &mut Table, x: &Value) {
    let a = &x["initial_sync"];
    let share = f(a, "share_of_ceiling");
    // Points within one bucket are not paced at all: the limit does not bound that sync.
    let in_bucket = a["fits_in_bucket"] == true;
    t.add_row([
        format!(
            "(i-a) initial sync, {} products × 3 variants × 2 locations ({} levels){}",
            x["products"],
            x["levels"],
            if x["full_size"] == true { "" } else { ", NOT the issue's 20,000" }
        ),
        format!(
            "{:.1} s ({:.1} simulated), {} mutations, {:.0} actual points, {}",
            f(a, "real_seconds"),
            f(a, "simulated_seconds"),
            a["mutations"],
            f(a, "actual_points"),
            if in_bucket {
                "within one bucket (not rate-bound)".to_owned()
            } else {
                format!("{:.1} % of the ceiling", 100.0 * share)
            }
        ),
        "≥ 90 % of the ceiling".into(),
        (share >= 0.9 || in_bucket).to_string(),
    ]);
    let rss = f(x, "peak_rss_mib");
    t.add_row([
        "    peak RSS of inventory-sync (VmHWM, the three runs)".into(),
        format!("{rss:.1} MiB"),
        "≤ 200 MB".into(),
        (rss * 1.048_576 <= 200.0).to_string(),
    ]);
    let b = &x["unchanged_resync"];
    let share_b = f(x, "unchanged_points_share_of_initial");
    t.add_row([
        "(i-b) re-sync, nothing changed".into(),
        format!(
            "{} mutations, {:.0} actual points = {:.1} % of the initial sync's",
            b["mutations"],
            f(b, "actual_points"),
            100.0 * share_b
        ),
        "0 mutations, ≤ 2 %".into(),
        (b["mutations"] == 0 && share_b <= 0.02).to_string(),
    ]);
    let c = &x["one_percent_changed"];
    t.add_row([
        format!("(i-c) re-sync, {} levels (1 %) changed", c["levels_changed"]),
        format!("{} mutations, {:.0} actual points", c["mutations"], f(c, "actual_points")),
        format!("{} mutations", c["expected_mutations"]),
        (c["mutations"] == c["expected_mutations"]).to_string(),
    ]);
    let d = &x["change_latency"];
    let p99 = f(d, "p99_ms");
    t.add_row([
        format!(
            "(i-d) ERP stock change → Shopify, {} changes at {:.0}/s",
            d["changes"],
            f(d, "offered_per_sec")
        ),
        format!("p50 {:.0} ms, p99 {p99:.0} ms, max {:.0} ms", f(d, "p50_ms"), f(d, "max_ms")),
        "p99 ≤ 2 s".into(),
        (p99 <= 2000.0).to_string(),
    ]);
}
