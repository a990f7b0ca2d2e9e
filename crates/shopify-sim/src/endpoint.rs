//! The Admin GraphQL endpoint, `POST /admin/api/{version}/graphql.json`: the shop by its
//! access token, injected faults, then one request validated against the schema, costed,
//! throttled by the shop's leaky bucket and executed (a query by `exec`, a mutation by
//! `mutate`), with `extensions.cost` on the answer.

use crate::cost::{self, Coster};
use crate::store::Shop;
use crate::{SharedSim, Sim, bucket, exec, gql, money, schema, scopes};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Mutex;

const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r.headers_mut().insert("x-shopify-api-version", HeaderValue::from_static(schema::API_VERSION));
    r
}

#[derive(Deserialize)]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

pub(crate) async fn graphql(
    State(sim): State<SharedSim>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let valid_version = version == "unstable"
        || (version.len() == 7
            && version.as_bytes()[4] == b'-'
            && version[..4].parse::<u16>().is_ok());
    if !valid_version {
        return json_response(StatusCode::NOT_FOUND, json!({ "errors": "Not Found" }));
    }
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let Some(shop) = sim.shop_by_token(token, host) else {
        return json_response(StatusCode::UNAUTHORIZED, json!({ "errors": INVALID_TOKEN }));
    };
    let shop_name = shop.lock().unwrap_or_else(|e| e.into_inner()).name.clone();
    let (fault, latency) = sim.fault(&shop_name);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    match fault {
        Some("error") => {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "errors": "Service Unavailable" }),
            );
        }
        Some("rate_limit") => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." }),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1.0"));
            return r;
        }
        Some(_) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"data\": {\"shop\": ",
            )
                .into_response();
        }
        None => {}
    }
    let body: GraphqlBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "errors": { "query": format!("Required parameter missing or invalid: {e}") } }),
            );
        }
    };
    let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "errors": { "query": "Required parameter missing or invalid" } }),
        );
    };
    let variables = match body.variables {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "errors": { "variables": "must be a JSON object" } }),
            );
        }
    };
    let base = format!("http://{}", host.unwrap_or("127.0.0.1"));
    let (status, body) = run(&sim, &shop, &query, body.operation_name.as_deref(), variables, &base);
    let (delay, lost) = sim.after_run(&shop_name);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if lost {
        return json_response(StatusCode::GATEWAY_TIMEOUT, json!({ "errors": "Gateway Timeout" }));
    }
    json_response(status, body)
}

/// Validate, cost, throttle and execute one request.
fn run(
    sim: &Sim,
    shop: &Mutex<Shop>,
    query: &str,
    operation_name: Option<&str>,
    variables: Map<String, Value>,
    base_url: &str,
) -> (StatusCode, Value) {
    let schema = schema::schema();
    // A document that does not parse gets its syntax errors alone, as graphql-ruby answers.
    if let Err(e) = apollo_compiler::ast::Document::parse(query, "query") {
        let empty = apollo_compiler::ExecutableDocument::new();
        return (
            StatusCode::OK,
            json!({ "errors": gql::validation_errors(&empty, &e.errors, query) }),
        );
    }
    let doc = match apollo_compiler::ExecutableDocument::parse_and_validate(&schema, query, "query")
    {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::OK,
                json!({ "errors": gql::validation_errors(&e.partial, &e.errors, query) }),
            );
        }
    };
    let op = match doc.operations.get(operation_name) {
        Ok(op) => op,
        Err(_) => {
            let message = match operation_name {
                Some(n) => format!("No operation named \"{n}\""),
                None => "An operation name is required".to_owned(),
            };
            return (StatusCode::OK, json!({ "errors": [{ "message": message }] }));
        }
    };
    let variables = match gql::coerce_variables(&schema, op, &variables) {
        Ok(v) => v,
        Err(errors) => return (StatusCode::OK, json!({ "errors": errors })),
    };
    let coster =
        Coster { schema: &schema, doc: &doc, model: sim.config.cost_model, variables: &variables };
    let requested = match coster.requested(op) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::OK,
                json!({ "errors": [{
                    "message": e.message,
                    "locations": [{ "line": e.line, "column": e.column }],
                    "path": e.path,
                    "extensions": { "code": "BAD_REQUEST" },
                }] }),
            );
        }
    };
    if requested > cost::MAX_COST {
        return (
            StatusCode::OK,
            json!({ "errors": [{
                "message": format!(
                    "Query cost is {requested}, which exceeds the single query max cost limit ({}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n",
                    cost::MAX_COST
                ),
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": cost::MAX_COST,
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }] }),
        );
    }
    let mut shop = shop.lock().unwrap_or_else(|e| e.into_inner());
    shop.usage.requests += 1;
    // Every amount of this request, queried or written, is in this shop's minor units (the
    // thread may have answered another shop last).
    money::set_current_units(shop.units());
    let now = sim.clock.now_secs();
    shop.usage.first_at.get_or_insert(now);
    shop.usage.last_at = now;
    if !shop.bucket(&sim.clock).take(requested, &sim.clock) {
        shop.usage.throttled += 1;
        let status = shop.bucket(&sim.clock).status(&sim.clock);
        return (
            StatusCode::OK,
            json!({
                "errors": [{
                    "message": "Throttled",
                    "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" },
                }],
                "extensions": { "cost": cost_json(requested, None, status) },
            }),
        );
    }
    let is_query = op.operation_type == apollo_compiler::executable::OperationType::Query;
    let root_type = if is_query { "QueryRoot" } else { "Mutation" };
    let denied = scopes::denied(&doc, root_type, &op.selection_set, shop.scopes.as_deref());
    let (mut data, mut errors) = if is_query {
        let now = sim.clock.now_secs();
        let mut exec = exec::Exec::new(&doc, &variables, &shop, now);
        let mut data = exec.run(&op.selection_set);
        gql::introspect(&schema, &doc, op, &variables, &mut data, &mut exec.errors);
        if exec.failed_non_null {
            // A non-null field the simulator cannot answer fails the answer (the null
            // propagates to the root), rather than leaving a null where none may be.
            data = Value::Null;
        }
        (data, exec.errors)
    } else {
        crate::mutate::mutate(
            sim,
            &doc,
            &variables,
            &mut shop,
            &op.selection_set,
            base_url,
            &denied,
        )
    };
    for (key, error) in denied {
        if let Some(o) = data.as_object_mut() {
            o.insert(key, Value::Null);
        }
        errors.push(error);
    }
    let actual = coster.actual(op, &data).min(requested);
    shop.usage.requested_points += requested;
    shop.usage.actual_points += actual;
    shop.bucket(&sim.clock).refund(requested - actual, &sim.clock);
    let status = shop.bucket(&sim.clock).status(&sim.clock);
    let mut body = Map::new();
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    body.insert("data".into(), data);
    body.insert("extensions".into(), json!({ "cost": cost_json(requested, Some(actual), status) }));
    (StatusCode::OK, Value::Object(body))
}

/// `extensions.cost` as Shopify writes it: costs and the available points as integers, the
/// bucket size and restore rate as floats (`2000.0`, `100.0`).
fn cost_json(requested: f64, actual: Option<f64>, s: bucket::ThrottleStatus) -> Value {
    json!({
        "requestedQueryCost": requested.ceil() as i64,
        "actualQueryCost": actual.map(|a| a.ceil() as i64),
        "throttleStatus": {
            "maximumAvailable": s.maximum_available,
            "currentlyAvailable": s.currently_available.floor() as i64,
            "restoreRate": s.restore_rate,
        },
    })
}
