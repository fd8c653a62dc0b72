//! Reaching a network namespace that the test run created (infra/start-libvirtd.sh makes it, with
//! the guests' bridge, and runs libvirtd inside it): run blocking code there, forward an address
//! there to this process's loopback, and send HTTP requests to guests there. Sockets belong to the
//! namespace of the thread that makes them, so each of these runs on a thread that joined it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The namespace the slow tier runs in (`SITEST_NETNS`, default `scaleinfra-test`).
pub fn name() -> String {
    std::env::var("SITEST_NETNS").unwrap_or_else(|_| "scaleinfra-test".into())
}

/// Remove the guests on `bridge` that an earlier, failed run left running (it stopped before its
/// undeploy): they would still answer for addresses that this run's IPAM hands out again. Guests
/// of other networks (another test's, running beside this one) are left alone.
pub fn clear_guests_on(bridge: &str) {
    let virsh = |args: &[&str]| {
        std::process::Command::new("virsh")
            .args(["-q", "-c", "qemu:///system"])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    for name in virsh(&["list", "--all", "--name"]).lines().map(str::trim) {
        if name.starts_with("si-")
            && virsh(&["domiflist", name])
                .split_whitespace()
                .any(|w| w == bridge)
        {
            virsh(&["destroy", name]);
            virsh(&["undefine", name]);
        }
    }
}

fn join(ns: &str) -> io::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Run `f` on a new thread inside the namespace `ns`.
pub fn within<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let ns = ns.to_owned();
    std::thread::spawn(move || -> io::Result<T> {
        join(&ns)?;
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("the thread inside the namespace panicked"))?
}

/// Listen on `at` inside `ns` and carry every connection to `to` in this process's namespace, for as
/// long as the current tokio runtime runs (the guests' way to the agent API).
pub async fn forward(ns: &str, at: SocketAddr, to: SocketAddr) -> io::Result<()> {
    let l = within(ns, move || -> io::Result<TcpListener> {
        let l = TcpListener::bind(at)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })??;
    let l = tokio::net::TcpListener::from_std(l)?;
    tokio::spawn(async move {
        while let Ok((mut inside, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut here) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inside, &mut here).await;
                }
            });
        }
    });
    Ok(())
}

/// One `GET path` over HTTP/1.0 to `addr`, from the calling thread's namespace: the body of a 200,
/// else why not.
fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| format!("send: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("answered {status:?}"));
    }
    Ok(body.trim().to_owned())
}

/// `GET path` from inside `ns`.
pub fn http_get(ns: &str, addr: SocketAddr, path: &str) -> Result<String, String> {
    let path = path.to_owned();
    within(ns, move || get(addr, &path, Duration::from_secs(10))).map_err(|e| e.to_string())?
}

/// Requests sent one after another from inside a namespace until stopped; every answer kept.
pub struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Result<String, String>>>>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Load {
    /// Start sending `GET path` to `addr` from inside `ns`, one request after another.
    pub fn start(ns: &str, addr: SocketAddr, path: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let (ns, path, halt, out) = (
            ns.to_owned(),
            path.to_owned(),
            stop.clone(),
            answers.clone(),
        );
        let thread = std::thread::spawn(move || {
            join(&ns)?;
            while !halt.load(Ordering::Relaxed) {
                let answer = get(addr, &path, Duration::from_secs(20));
                out.lock().unwrap_or_else(|p| p.into_inner()).push(answer);
            }
            Ok(())
        });
        Load {
            stop,
            answers,
            thread,
        }
    }

    /// The answers so far, in order.
    pub fn answers(&self) -> Vec<Result<String, String>> {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop, and every answer in order.
    pub fn stop(self) -> Vec<Result<String, String>> {
        self.stop.store(true, Ordering::Relaxed);
        let ended = self.thread.join();
        let mut answers =
            std::mem::take(&mut *self.answers.lock().unwrap_or_else(|p| p.into_inner()));
        match ended {
            Ok(Ok(())) => {}
            Ok(Err(e)) => answers.push(Err(format!("joining the namespace: {e}"))),
            Err(_) => answers.push(Err("the load thread panicked".into())),
        }
        answers
    }
}
