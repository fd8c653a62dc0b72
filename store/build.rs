//! Rebuild when a migration is added (diesel's embed_migrations! does not track new folders), and
//! export a fingerprint of all migrations so test templates are rebuilt when the schema changes.
use std::hash::{Hash, Hasher};
use std::path::Path;

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, files);
            } else {
                files.push(p);
            }
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    let mut files = Vec::new();
    walk(Path::new("../migrations"), &mut files);
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        f.hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    println!(
        "cargo:rustc-env=SCALEINFRA_MIGRATIONS_FINGERPRINT={:016x}",
        h.finish()
    );
}
