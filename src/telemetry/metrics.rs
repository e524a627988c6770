//! Prometheus metrics in the text exposition format. Small enough to write by hand, which
//! keeps a second HTTP stack (an exporter's) out of the binary.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Latency buckets in seconds: fine-grained where a healthy page lands.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.total += 1;
    }
}

#[derive(Default)]
struct Inner {
    /// (method, route template, status) -> count
    requests: BTreeMap<(&'static str, String, u16), u64>,
    /// (method, route template) -> latency
    latency: BTreeMap<(&'static str, String), Histogram>,
    /// (source, result) -> count
    ingest: BTreeMap<(String, &'static str), u64>,
    /// source -> unix time of the last successful fetch
    ingest_last_success: BTreeMap<String, i64>,
}

/// Process-wide counters, shared by the web layer and the ingestion scheduler.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave counters inconsistent in a way that
        // matters; keep counting rather than poison every later request.
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// One finished HTTP request, by route template (never the raw path: bounded labels)
    /// and standard method (any other method name is `other`: a client cannot create series).
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        self.with(|m| {
            *m.requests
                .entry((method, route.to_owned(), status))
                .or_default() += 1;
            m.latency
                .entry((method, route.to_owned()))
                .or_default()
                .observe(seconds);
        });
    }

    /// Ingestion outcomes per source; `result` is one of fetched, added, updated, skipped, error.
    pub fn record_ingest(&self, source: &str, result: &'static str, n: u64) {
        self.with(|m| *m.ingest.entry((source.to_owned(), result)).or_default() += n);
    }

    pub fn ingest_succeeded(&self, source: &str, unix_time: i64) {
        self.with(|m| {
            m.ingest_last_success.insert(source.to_owned(), unix_time);
        });
    }

    /// The counters in Prometheus text format, after any gauges the caller adds.
    pub fn render(&self, out: &mut String) {
        self.with(|m| {
            out.push_str("# HELP newsread_http_requests_total HTTP requests by route template and status.\n");
            out.push_str("# TYPE newsread_http_requests_total counter\n");
            for ((method, route, status), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "newsread_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
            out.push_str("# HELP newsread_http_request_duration_seconds HTTP request latency by route template.\n");
            out.push_str("# TYPE newsread_http_request_duration_seconds histogram\n");
            for ((method, route), h) in &m.latency {
                let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
                for (b, c) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "newsread_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {c}");
                }
                let _ = writeln!(out, "newsread_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.total);
                let _ = writeln!(out, "newsread_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "newsread_http_request_duration_seconds_count{{{labels}}} {}", h.total);
            }
            out.push_str("# HELP newsread_ingest_articles_total Ingestion results per source.\n");
            out.push_str("# TYPE newsread_ingest_articles_total counter\n");
            for ((source, result), n) in &m.ingest {
                let _ = writeln!(
                    out,
                    "newsread_ingest_articles_total{{source=\"{}\",result=\"{result}\"}} {n}",
                    escape(source)
                );
            }
            out.push_str("# HELP newsread_ingest_last_success_timestamp_seconds Last successful fetch per source.\n");
            out.push_str("# TYPE newsread_ingest_last_success_timestamp_seconds gauge\n");
            for (source, t) in &m.ingest_last_success {
                let _ = writeln!(out, "newsread_ingest_last_success_timestamp_seconds{{source=\"{}\"}} {t}", escape(source));
            }
        });
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
