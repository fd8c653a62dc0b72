//! The `scaleinfra serve` binary as an operator runs it: it answers while it runs (not only after a
//! signal), becomes ready, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The status code of `GET path` on `addr`, or `None` when it does not answer in time.
fn status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// The server process, killed if the test fails before it stops it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_answers_becomes_ready_and_stops_on_sigterm() {
    let data = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_scaleinfra"))
        .arg("serve")
        .current_dir(data.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCALEINFRA_BIND", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/serve.db", data.path().display()),
        )
        .env("SCALEINFRA_ADMIN_EMAIL", "operator@serve.test")
        .env("SCALEINFRA_ADMIN_PASSWORD", "Operator-Pass-Quasar-42")
        .env("SCALEINFRA_LOG_LEVEL", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let mut server = Server(child);
    let child = &mut server.0;
    let stdout = child.stdout.take().expect("stdout");
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("ScaleInfra listening on http://")
                .map(str::to_owned)
        })
        .expect("the binary says where it listens");

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        last = status(&addr, "/readyz");
        if last == Some(200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(last, Some(200), "serve became ready on {addr}");
    assert_eq!(status(&addr, "/healthz"), Some(200));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let exit = exit.expect("serve stops within 30 s of SIGTERM");
    assert!(exit.success(), "serve exits cleanly: {exit:?}");
    assert_eq!(status(&addr, "/healthz"), None, "nothing listens after");
}
