//! Where an image may be read from on a hypervisor host. No path ever comes from a tenant: a domain
//! spec names a registered image's *file*, and the driver joins it to the pool's image directory only
//! when both are well-formed ([`image_path`]). On a host whose files this process can see (a local
//! libvirt URI) the file is also checked on disk ([`verify_local`]): it must be a regular file directly
//! inside the canonical directory (no symlink out of it) with the registered size and SHA-256.

use super::{DriverError, ImageRef};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The path of `file` inside `dir` on a host, refusing anything but a plain file name inside an
/// absolute, normalised directory (see `common::validate::image_file` and `image_dir`).
pub fn image_path(dir: &str, file: &str) -> Result<String, DriverError> {
    common::validate::image_dir(dir)
        .map_err(|_| DriverError::refused(format!("the image directory {dir:?} is not valid")))?;
    common::validate::image_file(file).map_err(|_| {
        DriverError::refused(format!(
            "the image file name {file:?} is not a plain file name"
        ))
    })?;
    Ok(format!("{dir}/{file}"))
}

/// What a checked file looked like, so an unchanged file is not hashed again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

/// Files already hashed, by canonical path.
#[derive(Debug, Default)]
pub struct Checked(Mutex<HashMap<PathBuf, Seen>>);

/// SHA-256 of everything `r` yields, as lowercase hex.
pub fn sha256_of(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Check `image` on this machine's file system: a regular file (not a symlink) directly inside the
/// canonicalised `dir`, with the registered size and checksum. Returns the canonical path.
pub fn verify_local(dir: &str, image: &ImageRef, checked: &Checked) -> Result<String, DriverError> {
    let joined = image_path(dir, &image.file)?;
    let refuse = |what: String| DriverError::refused(format!("image {}: {what}", image.file));
    let real_dir = std::fs::canonicalize(dir)
        .map_err(|e| DriverError::refused_by(format!("the image directory {dir} is missing"), e))?;
    let meta = std::fs::symlink_metadata(&joined)
        .map_err(|e| DriverError::refused_by(format!("image {} is not in {dir}", image.file), e))?;
    if !meta.file_type().is_file() {
        return Err(refuse(format!(
            "{joined} is not a regular file (symlinks are refused)"
        )));
    }
    let real = std::fs::canonicalize(&joined).map_err(|e| {
        DriverError::refused_by(format!("image {} cannot be resolved", image.file), e)
    })?;
    if real.parent() != Some(real_dir.as_path()) {
        return Err(refuse(format!("{joined} lies outside {dir}")));
    }
    if meta.len() != image.size_bytes {
        return Err(refuse(format!(
            "{} bytes on disk, {} registered",
            meta.len(),
            image.size_bytes
        )));
    }
    let modified = meta.modified().ok();
    let known = checked
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&real)
        .filter(|s| s.len == meta.len() && s.modified == modified && modified.is_some())
        .map(|s| s.sha256.clone());
    let digest = match known {
        Some(d) => d,
        None => {
            let f = std::fs::File::open(&real).map_err(|e| {
                DriverError::refused_by(format!("image {} cannot be read", image.file), e)
            })?;
            let d = sha256_of(f).map_err(|e| {
                DriverError::refused_by(format!("image {} cannot be read", image.file), e)
            })?;
            checked.0.lock().unwrap_or_else(|p| p.into_inner()).insert(
                real.clone(),
                Seen {
                    len: meta.len(),
                    modified,
                    sha256: d.clone(),
                },
            );
            d
        }
    };
    if digest != image.sha256 {
        return Err(refuse(format!(
            "its SHA-256 is {digest}, the registry says {}",
            image.sha256
        )));
    }
    Ok(path_string(&real))
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use common::api::ImageFormat;

    #[test]
    fn only_plain_names_inside_a_normalised_directory_make_a_path() {
        let table = [
            ("/img", "base.qcow2", Some("/img/base.qcow2")),
            (
                "/var/lib/si/images",
                "vmlinuz",
                Some("/var/lib/si/images/vmlinuz"),
            ),
            ("/img", "../etc/shadow", None),
            ("/img", "..", None),
            ("/img", "/etc/shadow", None),
            ("/img", "a/b", None),
            ("/img", ".hidden", None),
            ("/img", "", None),
            ("/img/../etc", "shadow", None),
            ("img", "base.qcow2", None),
            ("/", "etc", None),
        ];
        for (dir, file, want) in table {
            assert_eq!(image_path(dir, file).ok().as_deref(), want, "{dir} {file}");
        }
    }

    fn image(file: &str, content: &[u8]) -> ImageRef {
        ImageRef {
            id: common::ImageId::new(),
            file: file.into(),
            format: ImageFormat::Raw,
            sha256: sha256_of(content).unwrap(),
            size_bytes: content.len() as u64,
        }
    }

    #[test]
    fn local_files_must_be_what_the_registry_says_and_stay_inside_the_directory() {
        // (not under a hidden directory: image directories refuse hidden components)
        let root = tempfile::Builder::new()
            .prefix("si-img")
            .tempdir_in("/tmp")
            .unwrap();
        let dir = root.path().join("images");
        std::fs::create_dir(&dir).unwrap();
        let dir_s = dir.to_str().unwrap().to_owned();
        std::fs::write(dir.join("vmlinuz"), b"kernel bytes").unwrap();
        let outside = root.path().join("secret");
        std::fs::write(&outside, b"another tenant's disk").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("escape")).unwrap();
        let checked = Checked::default();

        let good = image("vmlinuz", b"kernel bytes");
        let path = verify_local(&dir_s, &good, &checked).unwrap();
        assert!(path.ends_with("/images/vmlinuz"), "{path}");
        // checked again from the cache, and still right
        assert_eq!(verify_local(&dir_s, &good, &checked).unwrap(), path);

        // a symlink out of the directory, even with the target's own checksum and size
        let escape = image("escape", b"another tenant's disk");
        let e = verify_local(&dir_s, &escape, &checked).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // a file whose content differs from the registry
        let mut wrong = image("vmlinuz", b"kernel bytes");
        wrong.sha256 = "0".repeat(64);
        let e = verify_local(&dir_s, &wrong, &checked).unwrap_err();
        assert!(e.to_string().contains("SHA-256"), "{e}");
        let mut short = good.clone();
        short.size_bytes += 1;
        assert!(verify_local(&dir_s, &short, &checked).is_err());
        // missing files and traversal
        assert!(verify_local(&dir_s, &image("absent", b"x"), &checked).is_err());
        assert!(
            verify_local(
                &dir_s,
                &image("../secret", b"another tenant's disk"),
                &checked
            )
            .is_err()
        );
        // a directory that is itself a symlink resolves, but files must still be inside its target
        let link_dir = root.path().join("linked");
        std::os::unix::fs::symlink(&dir, &link_dir).unwrap();
        assert!(verify_local(link_dir.to_str().unwrap(), &good, &checked).is_ok());
        // a replaced file is hashed again
        std::fs::write(dir.join("vmlinuz"), b"kernel BYTES").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(dir.join("vmlinuz"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        let e = verify_local(&dir_s, &good, &checked);
        assert!(e.is_err(), "a changed file must be re-checked");
    }
}
