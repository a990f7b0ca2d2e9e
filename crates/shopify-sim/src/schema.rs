//! Shopify's Admin schema (2026-10), parsed and validated once per process.

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;
use std::sync::{Arc, LazyLock};

/// The vendored SDL (schema/shopify/README.md has its provenance and checksum).
pub const SDL: &str = include_str!("../../../schema/shopify/admin-2026-10.graphql");
/// `@oneOf`, used by the schema but built into GraphQL rather than declared in it.
const BUILTINS: &str = include_str!("../../../schema/shopify/builtins.graphql");

pub const API_VERSION: &str = "2026-10";

static SCHEMA: LazyLock<Arc<Valid<Schema>>> = LazyLock::new(|| {
    // The schema is vendored and checked by the tests; failing here is a build defect.
    let built = match Schema::builder()
        .parse(SDL, "admin-2026-10.graphql")
        .parse(BUILTINS, "builtins.graphql")
        .build()
    {
        Ok(s) => s,
        Err(e) => panic!("the vendored Shopify schema does not parse: {}", e.errors),
    };
    match built.validate() {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("the vendored Shopify schema does not validate: {}", e.errors),
    }
});

pub fn schema() -> Arc<Valid<Schema>> {
    SCHEMA.clone()
}
