// `sqlx::migrate!` embeds migrations/ at compile time: rebuild when a migration is added or
// changed, not only when a Rust file of this crate is.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
