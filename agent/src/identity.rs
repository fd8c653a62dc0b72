//! Who the agent is and where it reports: `si.token=… si.url=…` on the kernel command line, or the
//! `SI_TOKEN` / `SI_URL` environment variables.

/// The agent's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub token: String,
    /// Base URL of the orchestrator, e.g. `http://10.0.2.2:8080`.
    pub url: String,
}

/// Read `si.token` and `si.url` from a kernel command line.
pub fn from_cmdline(cmdline: &str) -> Option<Identity> {
    let mut token = None;
    let mut url = None;
    for word in cmdline.split_whitespace() {
        if let Some(v) = word.strip_prefix("si.token=") {
            token = Some(v.to_owned());
        } else if let Some(v) = word.strip_prefix("si.url=") {
            url = Some(v.trim_end_matches('/').to_owned());
        }
    }
    Some(Identity {
        token: token.filter(|t| !t.is_empty())?,
        url: url.filter(|u| u.starts_with("http://"))?,
    })
}

/// The identity from the environment, else from `/proc/cmdline`.
pub fn discover() -> Option<Identity> {
    if let (Ok(token), Ok(url)) = (std::env::var("SI_TOKEN"), std::env::var("SI_URL")) {
        return Some(Identity {
            token,
            url: url.trim_end_matches('/').to_owned(),
        });
    }
    from_cmdline(&std::fs::read_to_string("/proc/cmdline").ok()?)
}

/// The names under which a job gets its agent's identity (for `scaleinfra-agent emit`).
pub const JOB_URL: &str = "SI_AGENT_URL";
pub const JOB_TOKEN: &str = "SI_AGENT_TOKEN";

static SHARED: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();

/// Hand the running agent's identity to every job it runs (set once, at start).
pub fn share(id: &Identity) {
    let _ = SHARED.set(id.clone());
}

/// The identity handed to jobs, if any.
pub fn shared() -> Option<&'static Identity> {
    SHARED.get()
}

/// Who `emit` posts as: the identity its agent gave the job, else the agent's own way of finding it.
pub fn for_emit() -> Option<Identity> {
    match (std::env::var(JOB_TOKEN), std::env::var(JOB_URL)) {
        (Ok(token), Ok(url)) if !token.is_empty() && url.starts_with("http://") => Some(Identity {
            token,
            url: url.trim_end_matches('/').to_owned(),
        }),
        _ => discover(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline() {
        let id = from_cmdline(
            "console=ttyS0 quiet si.appliance=abc si.token=abc.MAC si.url=http://10.0.2.2:8080/",
        );
        assert_eq!(
            id,
            Some(Identity {
                token: "abc.MAC".into(),
                url: "http://10.0.2.2:8080".into()
            })
        );
        assert_eq!(from_cmdline("console=ttyS0"), None);
        assert_eq!(from_cmdline("si.token= si.url=http://x"), None);
        assert_eq!(from_cmdline("si.token=t si.url=ftp://x"), None);
    }
}
