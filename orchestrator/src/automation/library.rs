//! The provider's CloudScript library, shipped in `infra/cloudscripts/` (a manifest and the
//! scripts) and built into the binary: loaded on start, so a fresh installation has it and an
//! upgrade that changes a script adds a new version of it (earlier versions stay for rules that
//! pin them).

use common::ScriptId;
use common::api::VariableDecl;
use serde::Deserialize;
use store::repo::scripts;
use store::time::now;
use store::{Script, ScriptVersion, Store, StoreError};

const MANIFEST: &str = include_str!("../../../infra/cloudscripts/library.json");

/// The scripts the manifest names, by file name.
const FILES: [(&str, &str); 8] = [
    (
        "install-haproxy.sh",
        include_str!("../../../infra/cloudscripts/install-haproxy.sh"),
    ),
    (
        "haproxy-add-app-servers.sh",
        include_str!("../../../infra/cloudscripts/haproxy-add-app-servers.sh"),
    ),
    (
        "haproxy-remove-app-server.sh",
        include_str!("../../../infra/cloudscripts/haproxy-remove-app-server.sh"),
    ),
    (
        "install-mysql.sh",
        include_str!("../../../infra/cloudscripts/install-mysql.sh"),
    ),
    (
        "install-rails.sh",
        include_str!("../../../infra/cloudscripts/install-rails.sh"),
    ),
    (
        "install-php.sh",
        include_str!("../../../infra/cloudscripts/install-php.sh"),
    ),
    (
        "install-nginx-static.sh",
        include_str!("../../../infra/cloudscripts/install-nginx-static.sh"),
    ),
    (
        "health-check.sh",
        include_str!("../../../infra/cloudscripts/health-check.sh"),
    ),
];

/// The library script that adds an app layer's servers to HAProxy (the default wiring uses it).
pub const HAPROXY_ADD: &str = "haproxy-add-app-servers";
/// The library script that drains and removes an app server from HAProxy.
pub const HAPROXY_REMOVE: &str = "haproxy-remove-app-server";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub description: String,
    pub file: String,
    pub timeout_secs: u32,
    pub variables: Vec<VariableDecl>,
}

/// The library: each entry with its script text.
pub fn entries() -> Result<Vec<(Entry, &'static str)>, String> {
    let manifest: Vec<Entry> = serde_json::from_str(MANIFEST)
        .map_err(|e| format!("infra/cloudscripts/library.json: {e}"))?;
    manifest
        .into_iter()
        .map(|e| {
            let body = FILES
                .iter()
                .find(|(f, _)| *f == e.file)
                .map(|(_, b)| *b)
                .ok_or_else(|| format!("the library names {} but it is not built in", e.file))?;
            Ok((e, body))
        })
        .collect()
}

/// Insert the library scripts that are missing and add a version to those whose shipped text or
/// variables changed. Returns how many scripts or versions were written.
pub async fn load(store: &Store) -> Result<usize, StoreError> {
    let entries = entries().map_err(StoreError::Corrupt)?;
    store
        .write(move |c| -> Result<usize, StoreError> {
            let mut written = 0;
            for (e, body) in &entries {
                let at = now();
                match scripts::by_name(c, None, &e.name)? {
                    None => {
                        let script = Script {
                            id: ScriptId::new(),
                            tenant_id: None,
                            name: e.name.clone(),
                            description: e.description.clone(),
                            latest_version: 1,
                            created_at: at,
                            updated_at: at,
                        };
                        let v = ScriptVersion {
                            script_id: script.id,
                            version: 1,
                            body: (*body).to_owned(),
                            variables: e.variables.clone(),
                            timeout_secs: e.timeout_secs,
                            created_at: at,
                        };
                        scripts::insert(c, &script, &v)?;
                        written += 1;
                    }
                    Some(s) => {
                        let latest = scripts::version(c, s.id, s.latest_version)?;
                        let same = latest.as_ref().is_some_and(|v| {
                            v.body == *body
                                && v.variables == e.variables
                                && v.timeout_secs == e.timeout_secs
                        });
                        if !same {
                            let v = ScriptVersion {
                                script_id: s.id,
                                version: s.latest_version + 1,
                                body: (*body).to_owned(),
                                variables: e.variables.clone(),
                                timeout_secs: e.timeout_secs,
                                created_at: at,
                            };
                            scripts::add_version(c, &s, &v, Some(&e.description), at)?;
                            written += 1;
                        }
                    }
                }
            }
            Ok(written)
        })
        .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use validator::Validate;

    #[test]
    fn every_library_script_is_built_in_valid_and_renders() {
        let entries = entries().unwrap();
        assert_eq!(
            entries.len(),
            FILES.len(),
            "each built-in file is in the manifest"
        );
        for (e, body) in entries {
            common::validate::identifier(&e.name).unwrap();
            let req = common::api::ScriptVersionRequest {
                body: body.to_owned(),
                variables: e.variables.clone(),
                timeout_secs: e.timeout_secs,
            };
            assert!(req.validate().is_ok(), "{}: {:?}", e.name, req.validate());
            if let Err(err) = super::super::render::check_script(body, &e.variables) {
                panic!("{} does not render: {err}", e.name);
            }
        }
    }
}
