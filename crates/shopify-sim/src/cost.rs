//! Query cost (FACTS §1). The fitted model is the default: a connection costs
//! `2 + F(n) × node`, with `F(n) = max(1, ⌊2·ln n⌋)`, a node or any other object 1 plus its
//! selection, scalars, enums, `PageInfo`, `MoneyV2` and `MoneyBag` nothing, a union or interface
//! the dearest of its fragments, a mutation 10 (or its listed override). The pessimistic mode is
//! Shopify's documented linear rule: `2 + n × node`, money objects 1.
//!
//! The requested cost is computed from the document and the page sizes asked for; the actual
//! cost from the response, with the number of nodes returned.

use apollo_compiler::executable::{Field, Operation, OperationType, Selection, SelectionSet};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Node, Schema};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CostModel {
    #[default]
    Fitted,
    Linear,
}

/// Shopify refuses a single query over this cost before running it.
pub const MAX_COST: f64 = 1_000.0;
pub const MAX_PAGE: i64 = 250;

/// A check Shopify makes at run time (not in the schema): an error with its path.
#[derive(Debug, Clone)]
pub struct ArgError {
    pub message: String,
    pub path: Vec<String>,
    pub line: usize,
    pub column: usize,
}

fn fit(n: f64) -> f64 {
    if n <= 0.0 { 0.0 } else { (2.0 * n.ln()).floor().max(1.0) }
}

fn mutation_cost(name: &str) -> f64 {
    match name {
        "orderUpdate" => 100.0,
        "translationsRegister" => 50.0,
        "productCreateMedia" => 20.0,
        "stagedUploadsCreate" | "priceListFixedPricesAdd" | "draftOrderComplete" => 11.0,
        _ => 10.0,
    }
}

pub struct Coster<'a> {
    pub schema: &'a Valid<Schema>,
    pub doc: &'a Valid<ExecutableDocument>,
    pub model: CostModel,
    pub variables: &'a Map<String, Value>,
}

enum Kind {
    Free,
    Connection,
    Object,
}

impl Coster<'_> {
    fn kind(&self, f: &Field) -> Kind {
        let named = f.definition.ty.inner_named_type();
        match self.schema.types.get(named) {
            Some(ExtendedType::Object(_) | ExtendedType::Interface(_) | ExtendedType::Union(_)) => {
                let n = named.as_str();
                if n == "PageInfo"
                    || (self.model == CostModel::Fitted && (n == "MoneyV2" || n == "MoneyBag"))
                {
                    Kind::Free
                } else if n.ends_with("Connection") {
                    Kind::Connection
                } else {
                    Kind::Object
                }
            }
            _ => Kind::Free,
        }
    }

    /// The requested page size of a connection field, checked as Shopify does at run time.
    pub fn page_size(&self, f: &Node<Field>, path: &[String]) -> Result<i64, ArgError> {
        let at = |message: String| {
            let (line, column) = f
                .location()
                .and_then(|l| l.line_column_range(&self.doc.sources))
                .map(|r| (r.start.line, r.start.column))
                .unwrap_or((0, 0));
            ArgError { message, path: path.to_vec(), line, column }
        };
        let mut size = None;
        for arg in ["first", "last"] {
            if let Some(v) = f.specified_argument_by_name(arg) {
                let n = match v.as_ref() {
                    apollo_compiler::ast::Value::Int(i) => i.try_to_i32().ok().map(i64::from),
                    apollo_compiler::ast::Value::Variable(name) => {
                        self.variables.get(name.as_str()).and_then(Value::as_i64)
                    }
                    _ => None,
                };
                if let Some(n) = n {
                    if n > MAX_PAGE {
                        return Err(at(format!(
                            "The page size for '{}' must be at most {MAX_PAGE}, got {n}.",
                            f.name
                        )));
                    }
                    if n < 0 {
                        return Err(at(format!(
                            "Argument '{arg}' on Field '{}' must not be negative.",
                            f.name
                        )));
                    }
                    size = Some(n);
                }
            }
        }
        size.ok_or_else(|| at("you must provide one of first or last".to_owned()))
    }

    fn node_sets<'s>(&'s self, set: &'s SelectionSet) -> Vec<&'s SelectionSet> {
        let mut out = Vec::new();
        for f in self.fields(set) {
            match f.name.as_str() {
                "nodes" => out.push(&f.selection_set),
                "edges" => {
                    for n in self.fields(&f.selection_set) {
                        if n.name == "node" {
                            out.push(&n.selection_set);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The fields of a set, fragments flattened (for connection wrappers).
    fn fields<'s>(&'s self, set: &'s SelectionSet) -> Vec<&'s Field> {
        let mut out = Vec::new();
        for s in &set.selections {
            match s {
                Selection::Field(f) => out.push(f.as_ref()),
                Selection::InlineFragment(i) => out.extend(self.fields(&i.selection_set)),
                Selection::FragmentSpread(s) => {
                    if let Some(fr) = self.doc.fragments.get(&s.fragment_name) {
                        out.extend(self.fields(&fr.selection_set));
                    }
                }
            }
        }
        out
    }

    /// Requested cost of an operation.
    pub fn requested(&self, op: &Operation) -> Result<f64, ArgError> {
        if op.operation_type == OperationType::Mutation {
            let mut total = 0.0;
            for f in self.fields(&op.selection_set) {
                total += self.field_mutation_cost(f);
            }
            return Ok(total);
        }
        self.set_requested(&op.selection_set, &mut Vec::new())
    }

    /// A mutation field's cost. `productCreate`/`productUpdate` are dynamic, as Shopify
    /// documents them: 10 + 0.4 × metafields + 1.9 × media.
    fn field_mutation_cost(&self, f: &Field) -> f64 {
        let base = mutation_cost(f.name.as_str());
        if f.name != "productCreate" && f.name != "productUpdate" {
            return base;
        }
        let len = |v: Option<Value>| v.and_then(|v| v.as_array().map(Vec::len)).unwrap_or(0);
        let media = len(self.arg_json(f, "media"));
        let metafields =
            len(self.arg_json(f, "product").and_then(|p| p.get("metafields").cloned()));
        base + 0.4 * metafields as f64 + 1.9 * media as f64
    }

    /// An argument as JSON, variables substituted.
    fn arg_json(&self, f: &Field, name: &str) -> Option<Value> {
        fn to_json(v: &apollo_compiler::ast::Value, vars: &Map<String, Value>) -> Value {
            use apollo_compiler::ast::Value as A;
            match v {
                A::Variable(n) => vars.get(n.as_str()).cloned().unwrap_or(Value::Null),
                A::List(l) => Value::Array(l.iter().map(|x| to_json(x, vars)).collect()),
                A::Object(o) => Value::Object(
                    o.iter().map(|(k, x)| (k.to_string(), to_json(x, vars))).collect(),
                ),
                _ => Value::Bool(true),
            }
        }
        f.specified_argument_by_name(name).map(|v| to_json(v, self.variables))
    }

    fn set_requested(&self, set: &SelectionSet, path: &mut Vec<String>) -> Result<f64, ArgError> {
        let mut plain = 0.0;
        let mut fragments: f64 = 0.0;
        for s in &set.selections {
            match s {
                Selection::Field(f) => {
                    path.push(f.response_key().to_string());
                    let c = self.field_requested(f, path);
                    path.pop();
                    plain += c?;
                }
                Selection::InlineFragment(i) => {
                    let c = self.set_requested(&i.selection_set, path)?;
                    match &i.type_condition {
                        Some(t) if *t != set.ty => fragments = fragments.max(c),
                        _ => plain += c,
                    }
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(fr) = self.doc.fragments.get(&sp.fragment_name) {
                        let c = self.set_requested(&fr.selection_set, path)?;
                        if *fr.type_condition() != set.ty {
                            fragments = fragments.max(c);
                        } else {
                            plain += c;
                        }
                    }
                }
            }
        }
        Ok(plain + fragments)
    }

    fn field_requested(&self, f: &Node<Field>, path: &mut Vec<String>) -> Result<f64, ArgError> {
        match self.kind(f) {
            Kind::Free => Ok(0.0),
            Kind::Object => Ok(1.0 + self.set_requested(&f.selection_set, path)?),
            Kind::Connection => {
                let n = self.page_size(f, path)? as f64;
                let mut node: f64 = 0.0;
                for set in self.node_sets(&f.selection_set) {
                    node = node.max(1.0 + self.set_requested(set, path)?);
                }
                let node = node.max(1.0);
                let mult = match self.model {
                    CostModel::Fitted => fit(n),
                    CostModel::Linear => n,
                };
                Ok(2.0 + mult * node)
            }
        }
    }

    /// Actual cost of a query, from its response data.
    pub fn actual(&self, op: &Operation, data: &Value) -> f64 {
        if op.operation_type == OperationType::Mutation {
            return self
                .fields(&op.selection_set)
                .iter()
                .map(|f| self.field_mutation_cost(f))
                .sum();
        }
        self.set_actual(&op.selection_set, data)
    }

    fn set_actual(&self, set: &SelectionSet, v: &Value) -> f64 {
        let mut plain = 0.0;
        let mut fragments: f64 = 0.0;
        for s in &set.selections {
            match s {
                Selection::Field(f) => {
                    plain += self.field_actual(f, v.get(f.response_key().as_str()))
                }
                Selection::InlineFragment(i) => {
                    let c = self.set_actual(&i.selection_set, v);
                    match &i.type_condition {
                        Some(t) if *t != set.ty => fragments = fragments.max(c),
                        _ => plain += c,
                    }
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(fr) = self.doc.fragments.get(&sp.fragment_name) {
                        let c = self.set_actual(&fr.selection_set, v);
                        if *fr.type_condition() != set.ty {
                            fragments = fragments.max(c);
                        } else {
                            plain += c;
                        }
                    }
                }
            }
        }
        plain + fragments
    }

    fn field_actual(&self, f: &Field, v: Option<&Value>) -> f64 {
        let Some(v) = v.filter(|v| !v.is_null()) else { return 0.0 };
        match self.kind(f) {
            Kind::Free => 0.0,
            Kind::Object => match v {
                Value::Array(items) => {
                    1.0 + items
                        .iter()
                        .map(|i| self.set_actual(&f.selection_set, i))
                        .fold(0.0, f64::max)
                }
                _ => 1.0 + self.set_actual(&f.selection_set, v),
            },
            Kind::Connection => {
                let mut count = 0usize;
                let mut node: f64 = 0.0;
                for wrapper in self.fields(&f.selection_set) {
                    let key = wrapper.response_key().as_str();
                    let Some(Value::Array(items)) = v.get(key) else { continue };
                    count = count.max(items.len());
                    for item in items {
                        let (set, value) = if wrapper.name == "edges" {
                            match self
                                .fields(&wrapper.selection_set)
                                .into_iter()
                                .find(|n| n.name == "node")
                            {
                                Some(n) => (&n.selection_set, item.get(n.response_key().as_str())),
                                None => continue,
                            }
                        } else {
                            (&wrapper.selection_set, Some(item))
                        };
                        if let Some(value) = value {
                            node = node.max(1.0 + self.set_actual(set, value));
                        }
                    }
                }
                let mult = match self.model {
                    CostModel::Fitted => fit(count as f64),
                    CostModel::Linear => count as f64,
                };
                2.0 + mult * node
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(model: CostModel, q: &str) -> f64 {
        let schema = crate::schema::schema();
        let doc = ExecutableDocument::parse_and_validate(&schema, q, "q.graphql")
            .unwrap_or_else(|e| panic!("{}", e.errors));
        let op = doc.operations.get(None).unwrap();
        let vars = Map::new();
        Coster { schema: &schema, doc: &doc, model, variables: &vars }.requested(op).unwrap()
    }

    /// FACTS §1: the documented examples and the fitted model's figures.
    #[test]
    fn matches_shopifys_documented_examples() {
        assert_eq!(cost(CostModel::Fitted, "{ products(first: 10) { nodes { id title } } }"), 6.0);
        assert_eq!(cost(CostModel::Linear, "{ products(first: 10) { nodes { id title } } }"), 12.0);
        assert_eq!(
            cost(
                CostModel::Fitted,
                "{ products(first: 200) { edges { cursor node { id updatedAt } } pageInfo { hasNextPage } } }"
            ),
            12.0
        );
        assert_eq!(
            cost(
                CostModel::Fitted,
                r#"{ product(id: "gid://shopify/Product/1") { variants(first: 250) { nodes { inventoryItem { id tracked } } } } }"#
            ),
            25.0
        );
        assert_eq!(
            cost(
                CostModel::Fitted,
                "{ customers(first: 200) { edges { cursor node { id updatedAt } } } }"
            ),
            12.0
        );
        assert_eq!(
            cost(
                CostModel::Fitted,
                "mutation { a: tagsAdd(id: \"x\", tags: [\"t\"]) { node { id } } }"
            ),
            10.0
        );
    }

    /// productCreate/productUpdate: 10 + 0.4 × metafields + 1.9 × media.
    #[test]
    fn product_writes_cost_by_their_media_and_metafields() {
        let q = r#"mutation { productUpdate(product: { id: "gid://shopify/Product/1", metafields: [{ namespace: "a", key: "b", value: "c", type: "single_line_text_field" }] }, media: [{ originalSource: "https://x/a.jpg", mediaContentType: IMAGE }, { originalSource: "https://x/b.jpg", mediaContentType: IMAGE }]) { product { id } } }"#;
        assert!((cost(CostModel::Fitted, q) - (10.0 + 0.4 + 3.8)).abs() < 1e-9);
    }
}
