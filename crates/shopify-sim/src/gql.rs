//! Shopify's answers to invalid requests. Shopify runs graphql-ruby, so its messages differ
//! from the GraphQL reference implementation's: they are rebuilt here from apollo-compiler's
//! diagnostics (error kind, location, and the names quoted in its reference message).

use apollo_compiler::executable::{Operation, Selection, SelectionSet};
use apollo_compiler::validation::{DiagnosticList, Valid};
use apollo_compiler::{ExecutableDocument, Schema};
use serde_json::{Map, Value, json};

/// The names quoted (`"…"`) in a reference-implementation message, in order.
fn quoted(msg: &str) -> Vec<String> {
    msg.split('"').skip(1).step_by(2).map(|s| s.trim_start_matches('$').to_owned()).collect()
}

fn operation_label(doc: &ExecutableDocument) -> String {
    doc.operations
        .iter()
        .next()
        .and_then(|op| op.name.as_ref().map(|n| n.to_string()))
        .unwrap_or_default()
}

/// The argument whose value starts at `(line, column)`, with its field name and type.
fn argument_at(
    doc: &ExecutableDocument,
    line: usize,
    column: usize,
) -> Option<(String, String, String, String)> {
    fn walk(
        doc: &ExecutableDocument,
        set: &SelectionSet,
        line: usize,
        column: usize,
    ) -> Option<(String, String, String, String)> {
        for s in &set.selections {
            match s {
                Selection::Field(f) => {
                    for a in &f.arguments {
                        let at = a
                            .value
                            .location()
                            .and_then(|l| l.line_column_range(&doc.sources))
                            .map(|r| r.start);
                        let whole = a
                            .location()
                            .and_then(|l| l.line_column_range(&doc.sources))
                            .map(|r| r.start);
                        let hit = |p: Option<apollo_compiler::parser::LineColumn>| {
                            p.is_some_and(|p| p.line == line && p.column == column)
                        };
                        if hit(at) || hit(whole) {
                            let ty = f
                                .definition
                                .argument_by_name(&a.name)
                                .map(|d| d.ty.to_string())
                                .unwrap_or_default();
                            return Some((
                                f.name.to_string(),
                                a.name.to_string(),
                                a.value.to_string(),
                                ty,
                            ));
                        }
                    }
                    if let Some(x) = walk(doc, &f.selection_set, line, column) {
                        return Some(x);
                    }
                }
                Selection::InlineFragment(i) => {
                    if let Some(x) = walk(doc, &i.selection_set, line, column) {
                        return Some(x);
                    }
                }
                Selection::FragmentSpread(_) => {}
            }
        }
        None
    }
    doc.operations.iter().find_map(|op| walk(doc, &op.selection_set, line, column)).or_else(|| {
        doc.fragments.values().find_map(|fr| walk(doc, &fr.selection_set, line, column))
    })
}

/// graphql-ruby's `path` for a validation error at `(line, column)`: the operation
/// (`"query Name"`, or `"query"` when anonymous) or fragment (`"fragment Name"`), then the
/// fields (and `"... on Type"` fragments) down to the offending field, and the argument when
/// the error is in one. Walks the syntax tree, which keeps the fields validation rejected.
fn path_at(source: &str, line: usize, column: usize) -> Vec<String> {
    use apollo_compiler::ast::{Definition, Document, Selection as S};
    let Ok(ast) = Document::parse(source, "query") else { return Vec::new() };
    let starts = |loc: Option<apollo_compiler::parser::SourceSpan>| {
        loc.and_then(|l| l.line_column_range(&ast.sources))
            .is_some_and(|r| r.start.line == line && r.start.column == column)
    };
    fn walk(
        set: &[S],
        path: &mut Vec<String>,
        starts: &dyn Fn(Option<apollo_compiler::parser::SourceSpan>) -> bool,
    ) -> bool {
        for s in set {
            match s {
                S::Field(f) => {
                    path.push(f.alias.as_ref().unwrap_or(&f.name).to_string());
                    if starts(f.location()) {
                        return true;
                    }
                    for a in &f.arguments {
                        if starts(a.location()) || starts(a.value.location()) {
                            path.push(a.name.to_string());
                            return true;
                        }
                    }
                    if walk(&f.selection_set, path, starts) {
                        return true;
                    }
                    path.pop();
                }
                S::InlineFragment(i) => {
                    path.push(match &i.type_condition {
                        Some(t) => format!("... on {t}"),
                        None => "...".to_owned(),
                    });
                    if starts(i.location()) || walk(&i.selection_set, path, starts) {
                        return true;
                    }
                    path.pop();
                }
                S::FragmentSpread(sp) => {
                    if starts(sp.location()) {
                        path.push(format!("... {}", sp.fragment_name));
                        return true;
                    }
                }
            }
        }
        false
    }
    let mut first = None;
    for d in &ast.definitions {
        let (label, set) = match d {
            Definition::OperationDefinition(op) => (
                match &op.name {
                    Some(n) => format!("{} {n}", op.operation_type),
                    None => op.operation_type.to_string(),
                },
                &op.selection_set,
            ),
            Definition::FragmentDefinition(fr) => {
                (format!("fragment {}", fr.name), &fr.selection_set)
            }
            _ => continue,
        };
        let mut path = vec![label.clone()];
        if walk(set, &mut path, &starts) {
            return path;
        }
        first.get_or_insert(label);
    }
    // Variable and operation-level errors: the operation itself.
    first.into_iter().collect()
}

/// Validation diagnostics as Shopify's `errors` array.
pub fn validation_errors(
    doc: &ExecutableDocument,
    list: &DiagnosticList,
    source: &str,
) -> Vec<Value> {
    let op_label = operation_label(doc);
    // graphql-ruby does not add "must have a selection" for a field whose only subfields were
    // unknown: report the unknown fields alone.
    let has_undefined =
        list.iter().any(|d| d.error.unstable_error_name() == Some("UndefinedField"));
    list.iter()
        .filter(|d| !(has_undefined && d.error.unstable_error_name() == Some("MissingSubselection")))
        .map(|d| {
            let (line, column) = d.line_column_range().map(|r| (r.start.line, r.start.column)).unwrap_or((1, 1));
            let locations = json!([{ "line": line, "column": column }]);
            let compat = d.error.unstable_compat_message().unwrap_or_else(|| d.error.to_string());
            let names = quoted(&compat);
            let name = |i: usize| names.get(i).cloned().unwrap_or_default();
            let (message, extensions) = match d.error.unstable_error_name() {
                Some("UndefinedField") => (
                    format!("Field '{}' doesn't exist on type '{}'", name(0), name(1)),
                    json!({ "code": "undefinedField", "typeName": name(1), "fieldName": name(0) }),
                ),
                Some("UndefinedArgument") => (
                    format!("Field '{}' doesn't accept argument '{}'", name(1).rsplit('.').next().unwrap_or_default(), name(0)),
                    json!({ "code": "argumentNotAccepted", "name": name(1).rsplit('.').next().unwrap_or_default(), "typeName": "Field", "argumentName": name(0) }),
                ),
                Some("RequiredArgument") => (
                    format!("Field '{}' is missing required arguments: {}", name(0), name(1)),
                    json!({ "code": "missingRequiredArguments", "className": "Field", "name": name(0), "arguments": name(1) }),
                ),
                Some("UndefinedVariable") => (
                    format!("Variable ${} is used by {op_label} but not declared", name(0)),
                    json!({ "code": "variableNotDefined", "variableName": name(0) }),
                ),
                Some("UnusedVariable") => (
                    format!("Variable ${} is declared by {op_label} but not used", name(0)),
                    json!({ "code": "variableNotUsed", "variableName": name(0) }),
                ),
                Some("UndefinedDirective") => (
                    format!("Directive @{} is not defined", name(0).trim_start_matches('@')),
                    json!({ "code": "undefinedDirective", "directiveName": name(0).trim_start_matches('@') }),
                ),
                Some("UnsupportedValueType" | "IntCoercionError" | "FloatCoercionError" | "UndefinedEnumValue" | "UndefinedInputValue" | "RequiredField") => {
                    match argument_at(doc, line, column) {
                        Some((field, arg, value, ty)) => (
                            format!("Argument '{arg}' on Field '{field}' has an invalid value ({value}). Expected type '{ty}'."),
                            json!({ "code": "argumentLiteralsIncompatible", "typeName": "Field", "argumentName": arg }),
                        ),
                        None => (compat.clone(), json!({ "code": "argumentLiteralsIncompatible" })),
                    }
                }
                Some(other) => (compat.clone(), json!({ "code": lower_first(other) })),
                None => {
                    // Syntax errors: graphql-ruby's "Parse error on …" wording, and no path.
                    let message = format!("Parse error: {}", d.error);
                    return json!({ "message": message, "locations": locations, "extensions": { "code": "parseError" } });
                }
            };
            let path = path_at(source, line, column);
            json!({ "message": message, "locations": locations, "path": path, "extensions": extensions })
        })
        .collect()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// Coerce the request's variables; missing or invalid values answered as Shopify does.
pub fn coerce_variables(
    schema: &Valid<Schema>,
    op: &Operation,
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<Value>> {
    let mut errors = Vec::new();
    for def in &op.variables {
        let given = values.get(def.name.as_str());
        if def.ty.is_non_null() && def.default_value.is_none() && given.is_none_or(Value::is_null) {
            let loc = def.location().map(|l| (l.offset(), l));
            let _ = loc;
            errors.push(json!({
                "message": format!("Variable ${} of type {} was provided invalid value", def.name, def.ty),
                "extensions": {
                    "code": "INVALID_VARIABLE",
                    "value": Value::Null,
                    "problems": [{ "path": [], "explanation": "Expected value to not be null" }],
                },
            }));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let as_bytes: apollo_compiler::response::JsonMap =
        match serde_json::from_value(Value::Object(values.clone())) {
            Ok(m) => m,
            Err(e) => return Err(vec![json!({ "message": format!("invalid variables: {e}") })]),
        };
    match apollo_compiler::request::coerce_variable_values(schema, op, &as_bytes) {
        Ok(v) => match serde_json::to_value(&*v) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Ok(Map::new()),
        },
        Err(e) => Err(vec![json!({
            "message": "Variable was provided invalid value",
            "extensions": {
                "code": "INVALID_VARIABLE",
                "problems": [{ "path": [], "explanation": e.message().to_string() }],
            },
        })]),
    }
}

/// A value coerced to an input type as the GraphQL spec's input coercion does: a single value
/// where a list is expected becomes a list of one, inside input objects too.
pub fn coerce_input(v: Value, ty: &apollo_compiler::ast::Type) -> Value {
    use apollo_compiler::ast::Type;
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        (Type::List(inner) | Type::NonNullList(inner), Value::Array(items)) => {
            Value::Array(items.into_iter().map(|i| coerce_input(i, inner)).collect())
        }
        (Type::List(inner) | Type::NonNullList(inner), one) => {
            Value::Array(vec![coerce_input(one, inner)])
        }
        (Type::Named(n) | Type::NonNullNamed(n), Value::Object(fields)) => {
            let schema = crate::schema::schema();
            match schema.get_input_object(n.as_str()) {
                Some(def) => Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| {
                            let v = match def.fields.get(k.as_str()) {
                                Some(fd) => coerce_input(v, &fd.ty),
                                None => v,
                            };
                            (k, v)
                        })
                        .collect(),
                ),
                None => Value::Object(fields),
            }
        }
        (_, other) => other,
    }
}

/// `__schema` and `__type` at the root: executed by apollo-compiler's introspection over the
/// vendored schema and merged into the answer.
pub fn introspect(
    schema: &Valid<Schema>,
    doc: &Valid<apollo_compiler::ExecutableDocument>,
    op: &Operation,
    variables: &Map<String, Value>,
    data: &mut Value,
    errors: &mut Vec<Value>,
) {
    let wanted = op.root_fields(doc).any(|f| matches!(f.name.as_str(), "__schema" | "__type"));
    if !wanted {
        return;
    }
    let Ok(vars) = serde_json::from_value::<apollo_compiler::response::JsonMap>(Value::Object(
        variables.clone(),
    )) else {
        return;
    };
    let vars = match apollo_compiler::request::coerce_variable_values(schema, op, &vars) {
        Ok(v) => v,
        Err(e) => {
            errors.push(json!({ "message": e.message().to_string() }));
            return;
        }
    };
    let implementers = schema.implementers_map();
    match apollo_compiler::introspection::partial_execute(schema, &implementers, doc, op, &vars) {
        Ok(resp) => {
            for e in resp.errors {
                if let Ok(v) = serde_json::to_value(&e) {
                    errors.push(v);
                }
            }
            if let (Some(found), Some(out)) = (resp.data, data.as_object_mut())
                && let Ok(Value::Object(found)) = serde_json::to_value(&found)
            {
                for (k, v) in found {
                    if k != "__typename" {
                        out.insert(k, v);
                    }
                }
            }
        }
        Err(e) => errors.push(json!({ "message": e.message().to_string() })),
    }
}
