//! Every document the client sends validates against Shopify's 2026-10 schema, uses no
//! deprecated field, and is registered in `documents::ALL`.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures

use apollo_compiler::executable::{Selection, SelectionSet};
use apollo_compiler::{ExecutableDocument, Schema};
use shopsync_shopify::documents::{ALL, Retry};
use std::path::Path;

fn schema() -> apollo_compiler::validation::Valid<Schema> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/shopify");
    let sdl = std::fs::read_to_string(dir.join("admin-2026-10.graphql")).unwrap();
    let builtins = std::fs::read_to_string(dir.join("builtins.graphql")).unwrap();
    let built = Schema::builder()
        .parse(sdl, "admin-2026-10.graphql")
        .parse(builtins, "builtins.graphql")
        .build();
    match built.map(Schema::validate) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => panic!("{}", e.errors),
        Err(e) => panic!("{}", e.errors),
    }
}

fn deprecated_fields(doc: &ExecutableDocument, set: &SelectionSet, out: &mut Vec<String>) {
    for s in &set.selections {
        match s {
            Selection::Field(f) => {
                if f.definition.directives.get("deprecated").is_some() {
                    out.push(format!("{}.{}", set.ty, f.name));
                }
                deprecated_fields(doc, &f.selection_set, out);
            }
            Selection::InlineFragment(i) => deprecated_fields(doc, &i.selection_set, out),
            Selection::FragmentSpread(sp) => {
                if let Some(fr) = doc.fragments.get(&sp.fragment_name) {
                    deprecated_fields(doc, &fr.selection_set, out);
                }
            }
        }
    }
}

#[test]
fn every_document_validates_against_the_schema() {
    let schema = schema();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("graphql");
    let mut files = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("graphql") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            ALL.iter().any(|d| d.text == text),
            "{} is not registered in documents::ALL",
            path.display()
        );
        match ExecutableDocument::parse_and_validate(&schema, &text, path.display().to_string()) {
            Ok(doc) => {
                let mut dep = Vec::new();
                for op in doc.operations.iter() {
                    deprecated_fields(&doc, &op.selection_set, &mut dep);
                }
                if !dep.is_empty() {
                    failures.push(format!("{}: uses deprecated {dep:?}", path.display()));
                }
                let op = doc.operations.iter().next().unwrap();
                let d = ALL.iter().find(|d| d.text == text).unwrap();
                assert_eq!(
                    op.name.as_ref().map(|n| n.as_str()),
                    Some(d.name),
                    "{}",
                    path.display()
                );
                assert_eq!(op.is_mutation(), d.is_mutation(), "{}", path.display());
                // The retry class matches the document: only a mutation whose root field
                // carries @idempotent(key:) may be resent on the strength of its key.
                let keyed = op.selection_set.selections.iter().any(|s| {
                    matches!(s, Selection::Field(f) if f.directives.get("idempotent").is_some())
                });
                assert_eq!(
                    keyed,
                    d.retry == Retry::IdempotencyKey,
                    "{}: @idempotent and the Retry class disagree",
                    path.display()
                );
            }
            Err(e) => failures.push(e.errors.to_string()),
        }
    }
    assert_eq!(files, ALL.len(), "documents::ALL lists a document that has no file");
    assert!(failures.is_empty(), "documents that do not validate:\n{}", failures.join("\n"));
}

#[test]
fn the_validator_catches_a_bad_document() {
    // The check above would be worthless if the validator let mistakes through.
    let schema = schema();
    let bad = "query { shop { nmae } }";
    assert!(ExecutableDocument::parse_and_validate(&schema, bad, "bad.graphql").is_err());
}

#[test]
fn the_vendored_schema_is_the_official_one() {
    use sha2::Digest;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/shopify/admin-2026-10.graphql");
    let sum = sha2::Sha256::digest(std::fs::read(path).unwrap());
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "f8ef9dee6af043e7883596a89d06c08e6c36939b6dbf00149488a4172614fcbe");
}
