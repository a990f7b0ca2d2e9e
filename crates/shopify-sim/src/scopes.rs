//! Access scopes, as Shopify checks them: each root field and each object type may require one
//! of a set of scopes (`schema/shopify/scopes.json`, extracted from the official dump's
//! `offline_scopes` by `scripts/extract-scopes.py`). A `write_x` scope grants `read_x` too.
//!
//! A field the shop may not see answers `null` with an `ACCESS_DENIED` error naming the
//! required access, and a mutation field is not executed at all. Shopify nulls the exact field
//! that is denied; the simulator nulls the root field that contains it (documented deviation),
//! with the error's `path` pointing at the denied field.

use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Node};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

#[derive(Deserialize)]
struct Entry {
    scopes: Vec<String>,
    access: String,
}

#[derive(Deserialize)]
struct Table {
    fields: HashMap<String, Entry>,
    types: HashMap<String, Entry>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    match serde_json::from_str(include_str!("../../../schema/shopify/scopes.json")) {
        Ok(t) => t,
        // Vendored and covered by the tests; failing here is a build defect.
        Err(e) => panic!("schema/shopify/scopes.json does not parse: {e}"),
    }
});

/// Orders older than this are invisible without `read_all_orders` (Shopify: 60 days).
pub const ORDER_WINDOW_SECS: i64 = 60 * 24 * 3600;

/// The scopes one shop's app was granted; `None` grants everything (the default, so a sandbox
/// shop behaves like a fully authorised custom app).
pub fn has(granted: Option<&[String]>, scope: &str) -> bool {
    let Some(granted) = granted else { return true };
    granted.iter().any(|g| {
        g == scope
            || scope
                .strip_prefix("read_")
                .is_some_and(|rest| g.strip_prefix("write_").is_some_and(|w| w == rest))
    })
}

fn allowed(granted: Option<&[String]>, entry: &Entry) -> bool {
    entry.scopes.iter().any(|s| has(granted, s))
}

/// Root fields (by response key) of `set` the shop may not run, with the error to answer.
pub fn denied(
    doc: &Valid<ExecutableDocument>,
    root_type: &str,
    set: &SelectionSet,
    granted: Option<&[String]>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if granted.is_none() {
        return out;
    }
    let mut roots = Vec::new();
    flatten(doc, set, &mut roots);
    for f in roots {
        let key = f.response_key().to_string();
        if out.contains_key(&key) {
            continue;
        }
        let root = TABLE.fields.get(&format!("{root_type}.{}", f.name));
        let found = match root {
            Some(e) if !allowed(granted, e) => Some((vec![key.clone()], f, e)),
            _ => first_denied(doc, f, vec![key.clone()], granted),
        };
        if let Some((path, field, entry)) = found {
            let location = field
                .location()
                .and_then(|l| l.line_column_range(&doc.sources))
                .map(|r| json!([{ "line": r.start.line, "column": r.start.column }]));
            let mut error = json!({
                "message": format!("Access denied for {} field. Required access: {}", field.name, entry.access),
                "path": path,
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": entry.access,
                },
            });
            if let (Some(l), Some(o)) = (location, error.as_object_mut()) {
                o.insert("locations".into(), l);
            }
            out.insert(key, error);
        }
    }
    out
}

/// The fields of a selection set with fragments spread in.
fn flatten<'a>(
    doc: &'a Valid<ExecutableDocument>,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Node<Field>>,
) {
    for sel in &set.selections {
        match sel {
            Selection::Field(f) => out.push(f),
            Selection::InlineFragment(i) => flatten(doc, &i.selection_set, out),
            Selection::FragmentSpread(s) => {
                if let Some(frag) = doc.fragments.get(&s.fragment_name) {
                    flatten(doc, &frag.selection_set, out);
                }
            }
        }
    }
}

/// The first field at or below `f` whose type the shop may not read.
fn first_denied<'a>(
    doc: &'a Valid<ExecutableDocument>,
    f: &'a Node<Field>,
    path: Vec<String>,
    granted: Option<&[String]>,
) -> Option<(Vec<String>, &'a Node<Field>, &'static Entry)> {
    // A connection is denied as a whole when its nodes' type is (`customers` → `Customer`).
    let named = f.definition.ty.inner_named_type().as_str();
    let node_type = named.strip_suffix("Connection").unwrap_or(named);
    if let Some(e) = TABLE.types.get(node_type)
        && !allowed(granted, e)
    {
        return Some((path, f, e));
    }
    let mut children = Vec::new();
    flatten(doc, &f.selection_set, &mut children);
    children.into_iter().find_map(|c| {
        let mut p = path.clone();
        p.push(c.response_key().to_string());
        first_denied(doc, c, p, granted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_grants_read_and_none_grants_all() {
        let g = vec!["write_products".to_owned(), "read_orders".to_owned()];
        assert!(has(Some(&g), "read_products"));
        assert!(has(Some(&g), "write_products"));
        assert!(has(Some(&g), "read_orders"));
        assert!(!has(Some(&g), "write_orders"));
        assert!(!has(Some(&g), "read_all_orders"));
        assert!(has(None, "read_all_orders"));
    }

    #[test]
    fn the_table_knows_what_sync_needs() {
        assert!(TABLE.types["Order"].scopes.contains(&"read_orders".to_owned()));
        assert_eq!(TABLE.fields["Mutation.productSet"].scopes, ["write_products"]);
        assert!(TABLE.fields["Mutation.inventorySetQuantities"].access.contains("write_inventory"));
    }
}
