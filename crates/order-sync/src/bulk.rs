//! The initial load of history as one bulk operation: Shopify runs the query in the background
//! and writes every order as JSONL, its lines, shipping lines and fulfillment orders on lines
//! of their own after it (`__parentId`). [`Assembler`] puts each order back together in the
//! shape of an `OrdersPage` node, so it is read by the same [`crate::mirror::Order::from_node`]
//! as a paged import, and the bulk path cannot drift from it.
//!
//! Shopify writes an object's children right after it, so an order is whole when the next
//! order (or the end of the file) comes; a child of another order is an error, not a guess.

use serde_json::{Map, Value, json};
use shopsync_shopify::bulk::BulkRecord;
use shopsync_shopify::ops::orders_page::OrdersPageOrdersNodes as Node;

const TEMPLATE: &str = include_str!("../graphql/bulk_orders.graphql");

/// The bulk query over the orders matching `filter` (Shopify's search syntax).
pub fn query(filter: &str) -> String {
    // The filter goes inside a string literal of the query.
    let escaped = filter.replace('\\', "\\\\").replace('"', "\\\"");
    TEMPLATE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("FILTER", &escaped)
}

/// The nested connections of an order, by the kind in their children's ids.
const NESTED: [(&str, &str); 3] = [
    ("gid://shopify/LineItem/", "lineItems"),
    ("gid://shopify/ShippingLine/", "shippingLines"),
    ("gid://shopify/FulfillmentOrder/", "fulfillmentOrders"),
];

/// Puts orders back together from their bulk records.
#[derive(Default)]
pub struct Assembler {
    current: Option<Partial>,
}

/// An order read so far: its id, its own fields, and its children per nested connection.
type Partial = (String, Map<String, Value>, [Vec<Value>; 3]);

/// An order read from the file: its node, or why it could not be read (with its id and name).
pub type Assembled = Result<Node, (String, String, String)>;

impl Assembler {
    /// Take the next record; returns the order it completed, if any.
    pub fn push(&mut self, r: BulkRecord) -> Result<Option<Assembled>, String> {
        match r.parent_id {
            None => {
                let id = r.id.ok_or("a bulk order without an id")?;
                let Value::Object(o) = r.data else {
                    return Err("a bulk order is not an object".into());
                };
                let done = self.finish();
                self.current = Some((id, o, Default::default()));
                Ok(done)
            }
            Some(parent) => {
                let Some((id, _, children)) = self.current.as_mut() else {
                    return Err(format!("a bulk record of {parent} before any order"));
                };
                if *id != parent {
                    return Err(format!(
                        "a bulk record of {parent} after the records of {id}: the file is not grouped by order"
                    ));
                }
                let child = r.id.unwrap_or_default();
                let slot = NESTED
                    .iter()
                    .position(|(prefix, _)| child.starts_with(prefix))
                    .ok_or_else(|| format!("a bulk record {child:?} of no known kind"))?;
                children[slot].push(r.data);
                Ok(None)
            }
        }
    }

    /// The last order, at the end of the file.
    pub fn finish(&mut self) -> Option<Assembled> {
        let (id, mut o, children) = self.current.take()?;
        let name = o.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        for ((_, key), nodes) in NESTED.iter().zip(children) {
            o.insert(
                (*key).to_owned(),
                json!({ "nodes": nodes, "pageInfo": { "hasNextPage": false, "endCursor": null } }),
            );
        }
        Some(
            serde_json::from_value(Value::Object(o))
                .map_err(|e| (id, name, format!("unexpected bulk record: {e}"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, parent: Option<&str>, data: Value) -> BulkRecord {
        BulkRecord { id: Some(id.into()), parent_id: parent.map(str::to_owned), data }
    }

    #[test]
    fn the_query_carries_the_filter_inside_its_string() {
        let q = query("created_at:>='2025-01-01'");
        assert!(q.contains(r#"orders(query: "created_at:>='2025-01-01'""#), "{q}");
        assert!(!q.contains('#'));
        assert!(query(r#"tag:"a b""#).contains(r#"tag:\"a b\""#));
    }

    #[test]
    fn children_of_another_order_are_refused() {
        let mut a = Assembler::default();
        assert!(
            a.push(rec("gid://shopify/Order/1", None, json!({"id": "gid://shopify/Order/1"})))
                .unwrap()
                .is_none()
        );
        let e = a
            .push(rec("gid://shopify/LineItem/9", Some("gid://shopify/Order/2"), json!({})))
            .unwrap_err();
        assert!(e.contains("not grouped"), "{e}");
        let e = a
            .push(rec("gid://shopify/Weird/9", Some("gid://shopify/Order/1"), json!({})))
            .unwrap_err();
        assert!(e.contains("no known kind"), "{e}");
        // The order itself does not decode (it lacks every field): its error names it.
        let done = a.finish().unwrap();
        assert!(matches!(done, Err((id, _, _)) if id == "gid://shopify/Order/1"));
    }
}
