//! Metrics from `/proc` (pure parsers, tested beside them) and the custom metrics file
//! (`name value` per line) that CloudScripts write.

use common::agent::MetricsReport;
use std::collections::BTreeMap;

/// Total and idle jiffies from the first line of `/proc/stat`.
pub fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((v.iter().sum(), idle))
}

/// CPU use in percent between two `/proc/stat` samples.
pub fn cpu_pct(before: (u64, u64), after: (u64, u64)) -> f64 {
    let total = after.0.saturating_sub(before.0);
    let idle = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    100.0 * (total - idle.min(total)) as f64 / total as f64
}

/// The 1-minute load from `/proc/loadavg`.
pub fn load1(loadavg: &str) -> f64 {
    loadavg
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// (used, total) MiB from `/proc/meminfo`.
pub fn memory(meminfo: &str) -> (u64, u64) {
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let total = field("MemTotal:");
    let available = field("MemAvailable:");
    (total.saturating_sub(available) / 1024, total / 1024)
}

/// Received and sent bytes of every interface but loopback, from `/proc/net/dev`.
pub fn network(netdev: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in netdev.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() >= 9 {
            rx += v[0];
            tx += v[8];
        }
    }
    (rx, tx)
}

/// Custom metrics: `name value` lines; others are ignored.
pub fn custom(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let value = it.next()?.parse::<f64>().ok()?;
            (it.next().is_none() && value.is_finite()).then(|| (name.to_owned(), value))
        })
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Samples `/proc` and the custom file; CPU use is measured since the previous sample.
pub struct Sampler {
    last_cpu: Option<(u64, u64)>,
    pub custom_file: String,
}

impl Sampler {
    pub fn new(custom_file: &str) -> Self {
        Sampler {
            last_cpu: cpu_times(&read("/proc/stat")),
            custom_file: custom_file.to_owned(),
        }
    }

    pub fn sample(&mut self) -> MetricsReport {
        let now = cpu_times(&read("/proc/stat"));
        let cpu = match (self.last_cpu, now) {
            (Some(b), Some(a)) => cpu_pct(b, a),
            _ => 0.0,
        };
        self.last_cpu = now;
        let (used, total) = memory(&read("/proc/meminfo"));
        let (rx, tx) = network(&read("/proc/net/dev"));
        MetricsReport {
            cpu_pct: cpu,
            load1: load1(&read("/proc/loadavg")),
            mem_used_mib: used,
            mem_total_mib: total,
            net_rx_bytes: rx,
            net_tx_bytes: tx,
            custom: custom(&read(&self.custom_file)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        let a = cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4").unwrap();
        let b = cpu_times("cpu  150 0 150 750 100 0 0 0 0 0").unwrap();
        assert_eq!(a, (1000, 800));
        assert!((cpu_pct(a, b) - 66.666).abs() < 0.01);
        assert_eq!(cpu_pct(a, a), 0.0);
        assert_eq!(cpu_times("garbage"), None);
        assert_eq!(load1("0.42 0.30 0.10 1/100 1234"), 0.42);
        assert_eq!(
            memory("MemTotal:       2048000 kB\nMemFree: 1 kB\nMemAvailable:   1024000 kB\n"),
            (1000, 2000)
        );
        let netdev = "Inter-|   Receive\n face |bytes packets\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 5000 10 0 0 0 0 0 0 3000 8 0 0 0 0 0 0\n";
        assert_eq!(network(netdev), (5000, 3000));
        let c = custom("queue 7\nbad line here\nlatency_ms 12.5\nnan NaN\n");
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            vec![("latency_ms".to_string(), 12.5), ("queue".to_string(), 7.0)]
        );
    }
}
