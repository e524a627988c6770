//! Prometheus metrics in the text exposition format. Small enough to write by hand, which
//! keeps a second HTTP stack (an exporter's) out of the binary.
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Latency buckets in seconds: fine-grained where a healthy page lands.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone, Copy)]
struct Histogram {
    /// Observations per bucket (not cumulative; `render` sums them), the last one past every
    /// bound.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        let i = BUCKETS.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
    }

    fn add(&mut self, other: &Self) {
        for (c, o) in self.counts.iter_mut().zip(other.counts) {
            *c += o;
        }
        self.sum += other.sum;
    }
}

/// One route's counters in one shard: a handful of (method, status) pairs, searched in place.
#[derive(Default)]
struct RouteCounters {
    requests: Vec<(&'static str, u16, u64)>,
    latency: Vec<(&'static str, Histogram)>,
}

/// Requests counted by the threads that use one shard, by route template.
type Shard = HashMap<Box<str>, RouteCounters>;

/// Request counters are sharded by thread: each request takes an uncontended lock and
/// allocates nothing once its route has been seen, where one process-wide lock was contended
/// by every worker thread on every request. `render` merges the shards.
const SHARDS: usize = 8;

#[derive(Default)]
struct Ingest {
    /// (source, result) -> count
    articles: BTreeMap<(String, &'static str), u64>,
    /// source -> unix time of the last successful fetch
    last_success: BTreeMap<String, i64>,
}

/// Process-wide counters, shared by the web layer and the ingestion scheduler.
#[derive(Default)]
pub struct Metrics {
    http: [Mutex<Shard>; SHARDS],
    ingest: Mutex<Ingest>,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A panic while holding one of these locks cannot leave counters inconsistent in a way that
/// matters; keep counting rather than poison every later request.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This thread's shard: threads are numbered in the order they first count a request.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// One finished HTTP request, by route template (never the raw path: bounded labels)
    /// and standard method (any other method name is `other`: a client cannot create series).
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let mut shard = lock(&self.http[shard_index()]);
        let counters = match shard.get_mut(route) {
            Some(c) => c,
            None => shard.entry(route.into()).or_default(),
        };
        match counters
            .requests
            .iter_mut()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            Some((_, _, n)) => *n += 1,
            None => counters.requests.push((method, status, 1)),
        }
        match counters.latency.iter_mut().find(|(m, _)| *m == method) {
            Some((_, h)) => h.observe(seconds),
            None => {
                let mut h = Histogram::default();
                h.observe(seconds);
                counters.latency.push((method, h));
            }
        }
    }

    /// Ingestion outcomes per source; `result` is one of fetched, added, updated, skipped, error.
    pub fn record_ingest(&self, source: &str, result: &'static str, n: u64) {
        *lock(&self.ingest)
            .articles
            .entry((source.to_owned(), result))
            .or_default() += n;
    }

    pub fn ingest_succeeded(&self, source: &str, unix_time: i64) {
        lock(&self.ingest)
            .last_success
            .insert(source.to_owned(), unix_time);
    }

    /// The counters in Prometheus text format, after any gauges the caller adds.
    pub fn render(&self, out: &mut String) {
        let mut requests: BTreeMap<(&'static str, String, u16), u64> = BTreeMap::new();
        let mut latency: BTreeMap<(&'static str, String), Histogram> = BTreeMap::new();
        for shard in &self.http {
            for (route, c) in lock(shard).iter() {
                for (method, status, n) in &c.requests {
                    *requests
                        .entry((*method, route.to_string(), *status))
                        .or_default() += n;
                }
                for (method, h) in &c.latency {
                    latency
                        .entry((*method, route.to_string()))
                        .or_default()
                        .add(h);
                }
            }
        }
        out.push_str(
            "# HELP newsread_http_requests_total HTTP requests by route template and status.\n",
        );
        out.push_str("# TYPE newsread_http_requests_total counter\n");
        for ((method, route, status), n) in &requests {
            let _ = writeln!(
                out,
                "newsread_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str("# HELP newsread_http_request_duration_seconds HTTP request latency by route template.\n");
        out.push_str("# TYPE newsread_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &latency {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            let mut cumulative = 0;
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                cumulative += c;
                let _ = writeln!(out, "newsread_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}");
            }
            let total: u64 = h.counts.iter().sum();
            let _ = writeln!(
                out,
                "newsread_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "newsread_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "newsread_http_request_duration_seconds_count{{{labels}}} {total}"
            );
        }
        let ingest = lock(&self.ingest);
        out.push_str("# HELP newsread_ingest_articles_total Ingestion results per source.\n");
        out.push_str("# TYPE newsread_ingest_articles_total counter\n");
        for ((source, result), n) in &ingest.articles {
            let _ = writeln!(
                out,
                "newsread_ingest_articles_total{{source=\"{}\",result=\"{result}\"}} {n}",
                escape(source)
            );
        }
        out.push_str("# HELP newsread_ingest_last_success_timestamp_seconds Last successful fetch per source.\n");
        out.push_str("# TYPE newsread_ingest_last_success_timestamp_seconds gauge\n");
        for (source, t) in &ingest.last_success {
            let _ = writeln!(
                out,
                "newsread_ingest_last_success_timestamp_seconds{{source=\"{}\"}} {t}",
                escape(source)
            );
        }
    }
}

/// The methods counted under their own name; every other name (HTTP allows any token)
/// is counted as `other`, so requests cannot grow the number of series without bound.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// The metrics label for a request method.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// Appends one gauge with its HELP and TYPE lines.
pub fn gauge(out: &mut String, name: &str, help: &str, samples: &[(&str, f64)]) {
    family(out, name, help, "gauge", samples);
}

/// A value that only grows while the process runs; Prometheus computes rates from it.
/// The name ends in `_total`, as the exposition format asks of counters.
pub fn counter(out: &mut String, name: &str, help: &str, samples: &[(&str, f64)]) {
    debug_assert!(name.ends_with("_total"), "{name}");
    family(out, name, help, "counter", samples);
}

fn family(out: &mut String, name: &str, help: &str, kind: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_escapes_labels() {
        let m = Metrics::new();
        m.observe_request("GET", "/news", 200, 0.003);
        m.observe_request("GET", "/news", 200, 0.2);
        m.record_ingest("feed \"x\"", "added", 3);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "newsread_http_requests_total{method=\"GET\",route=\"/news\",status=\"200\"} 2"
        ));
        assert!(out.contains("newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"0.005\"} 1"));
        assert!(out.contains("newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"+Inf\"} 2"));
        assert!(out.contains(
            "newsread_ingest_articles_total{source=\"feed \\\"x\\\"\",result=\"added\"} 3"
        ));
    }

    #[test]
    fn requests_counted_on_other_threads_are_merged() {
        let m = Metrics::new();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| m.observe_request("GET", "/news", 200, 0.003));
            }
        });
        m.observe_request("GET", "/news", 200, 0.003);
        m.observe_request("GET", "/news", 404, 20.0);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "newsread_http_requests_total{method=\"GET\",route=\"/news\",status=\"200\"} 4",
            "newsread_http_requests_total{method=\"GET\",route=\"/news\",status=\"404\"} 1",
            "newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"0.0025\"} 0",
            "newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"0.005\"} 4",
            "newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"10\"} 4",
            "newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"+Inf\"} 5",
            "newsread_http_request_duration_seconds_count{method=\"GET\",route=\"/news\"} 5",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::new();
        for method in ["FOO", "BREW", "get", "PROPFIND", "GET"] {
            m.observe_request(method, "/news", 405, 0.001);
        }
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "newsread_http_requests_total{method=\"other\",route=\"/news\",status=\"405\"} 4"
        ));
        assert!(out.contains(
            "newsread_http_requests_total{method=\"GET\",route=\"/news\",status=\"405\"} 1"
        ));
        assert!(!out.contains("BREW") && !out.contains("PROPFIND"), "{out}");
    }
}
