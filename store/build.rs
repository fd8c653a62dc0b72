//! Rebuild when a migration is added (diesel's embed_migrations! does not track new folders).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
