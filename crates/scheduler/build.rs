// `sqlx::migrate!` embeds migrations/ at compile time: rebuild when a migration is added or
// changed (or sqlx.toml, which names the version table), not only when a Rust file is.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=sqlx.toml");
}
