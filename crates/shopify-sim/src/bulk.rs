//! Bulk query operations: `bulkOperationRunQuery` runs the query at once over the shop's data
//! and keeps its JSONL result, which is ready (and the operation COMPLETED) after a short
//! simulated while; at most five run at a time.

use crate::store::{self, Shop};
use crate::{Sim, exec, gql, schema, scopes};
use serde_json::{Map, Value, json};

/// Simulated seconds a bulk query runs before it completes.
const BULK_RUN_SECS: f64 = 0.5;
/// Bulk queries running at once per shop (2026-01 and later).
const BULK_CONCURRENCY: usize = 5;

pub(crate) fn run_query(
    sim: &Sim,
    shop: &mut Shop,
    query: &str,
    base_url: &str,
) -> (Option<u64>, Vec<Value>) {
    let now = sim.clock.now_secs();
    if shop.bulk_ops.values().filter(|b| b.ready_at > now).count() >= BULK_CONCURRENCY {
        return (
            None,
            vec![json!({
                "field": null,
                "message": format!("A shop can run at most {BULK_CONCURRENCY} bulk query operations at a time."),
                "code": "LIMIT_REACHED",
            })],
        );
    }
    let schema = schema::schema();
    let inner =
        match apollo_compiler::ExecutableDocument::parse_and_validate(&schema, query, "bulk") {
            Ok(d) => d,
            Err(e) => {
                let errs = gql::validation_errors(&e.partial, &e.errors, query)
                .into_iter()
                .map(|v| json!({ "field": ["query"], "message": v["message"], "code": "INVALID" }))
                .collect();
                return (None, errs);
            }
        };
    let Ok(op) = inner.operations.get(None) else {
        return (
            None,
            vec![
                json!({ "field": ["query"], "message": "Bulk queries must contain exactly one query operation.", "code": "INVALID" }),
            ],
        );
    };
    if op.operation_type != apollo_compiler::executable::OperationType::Query {
        return (
            None,
            vec![
                json!({ "field": ["query"], "message": "Bulk queries must be queries.", "code": "INVALID" }),
            ],
        );
    }
    // A bulk query the app lacks a scope for is accepted, then fails with ACCESS_DENIED.
    let denied =
        !scopes::denied(&inner, "QueryRoot", &op.selection_set, shop.scopes.as_deref()).is_empty();
    let vars = Map::new();
    let lines = if denied {
        Ok((Vec::new(), 0))
    } else {
        let mut e = exec::Exec::new(&inner, &vars, shop, now);
        e.bulk_lines(&op.selection_set)
    };
    let (lines, roots) = match lines {
        Ok(x) => x,
        Err(message) => {
            return (
                None,
                vec![json!({ "field": ["query"], "message": message, "code": "INVALID" })],
            );
        }
    };
    let id = shop.next_id();
    let mut jsonl = lines.join("\n");
    if !jsonl.is_empty() {
        jsonl.push('\n');
    }
    let op = store::BulkOp {
        id,
        query: query.to_owned(),
        created_at: chrono::Utc::now(),
        ready_at: now + BULK_RUN_SECS,
        object_count: lines.len() as u64,
        root_object_count: roots,
        url: format!("{base_url}/sim/bulk/{}/{id}.jsonl", shop.name),
        jsonl,
        error_code: denied.then(|| "ACCESS_DENIED".to_owned()),
    };
    shop.bulk_ops.insert(id, op);
    (Some(id), Vec::new())
}
