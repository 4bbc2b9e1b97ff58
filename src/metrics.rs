//! Prometheus metrics at `/metrics`, in the text exposition format: counters kept in
//! atomics by the request path, and gauges read when scraped. No label carries an
//! organization, a user or a key, so the page says how busy the gateway is and nothing
//! about whom it serves.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Password reset requests still being issued after their answer (the look-up, the token
/// and the email run on their own, so that the answer takes the same time whoever asks).
static PASSWORD_RESETS_IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

/// Counts one password reset being issued until it is dropped (at the end of its task,
/// however that ends).
pub struct ResetInFlight(());

impl ResetInFlight {
    pub fn start() -> Self {
        PASSWORD_RESETS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        ResetInFlight(())
    }
}

impl Drop for ResetInFlight {
    fn drop(&mut self) {
        PASSWORD_RESETS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many password resets this process is still issuing after answering them (for
/// `/metrics`, and for tests that wait for the database to stand still).
pub fn password_resets_in_flight() -> u64 {
    PASSWORD_RESETS_IN_FLIGHT.load(Ordering::SeqCst)
}

/// The counters the request path moves.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP answers by status class (1xx … 5xx).
    responses: [AtomicU64; 5],
    /// API keys accepted and refused.
    keys_accepted: AtomicU64,
    keys_refused: AtomicU64,
    /// Operations refused by an API key's or organization's rate limit.
    rate_limited: AtomicU64,
    /// Introspection answers taken from the cache, and computed.
    introspection_cached: AtomicU64,
    introspection_computed: AtomicU64,
}

/// What is read at scrape time.
pub struct Gauges {
    pub sql_statements: u64,
    pub api_key_cache_entries: u64,
    pub db_connections: u32,
    pub db_idle_connections: u32,
    pub password_work_in_transaction: u64,
    pub password_resets_in_flight: u64,
}

impl Metrics {
    pub fn response(&self, status: u16) {
        if let Some(class) = (status / 100)
            .checked_sub(1)
            .and_then(|i| self.responses.get(i as usize))
        {
            class.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn key_verified(&self, accepted: bool) {
        let counter = if accepted {
            &self.keys_accepted
        } else {
            &self.keys_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub fn introspection_answered(&self, from_cache: bool) {
        let counter = if from_cache {
            &self.introspection_cached
        } else {
            &self.introspection_computed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition page.
    pub fn render(&self, gauges: &Gauges) -> String {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let classes: Vec<(String, u64)> = self
            .responses
            .iter()
            .enumerate()
            .map(|(index, counter)| (format!("class=\"{}xx\"", index + 1), read(counter)))
            .collect();
        let mut page = String::new();
        family(
            &mut page,
            "tenantgate_http_responses_total",
            "counter",
            "HTTP answers by status class.",
            &classes,
        );
        family(
            &mut page,
            "tenantgate_api_key_verifications_total",
            "counter",
            "API keys presented, by result.",
            &[
                ("result=\"accepted\"".into(), read(&self.keys_accepted)),
                ("result=\"refused\"".into(), read(&self.keys_refused)),
            ],
        );
        family(
            &mut page,
            "tenantgate_rate_limited_total",
            "counter",
            "Operations refused by API key and organization rate limits.",
            &[(String::new(), read(&self.rate_limited))],
        );
        family(
            &mut page,
            "tenantgate_introspection_answers_total",
            "counter",
            "Introspection-only answers, from the cache or computed (and then cached).",
            &[
                ("source=\"cache\"".into(), read(&self.introspection_cached)),
                (
                    "source=\"computed\"".into(),
                    read(&self.introspection_computed),
                ),
            ],
        );
        family(
            &mut page,
            "tenantgate_sql_statements_total",
            "counter",
            "SQL statements run by this process.",
            &[(String::new(), gauges.sql_statements)],
        );
        family(
            &mut page,
            "tenantgate_api_key_cache_entries",
            "gauge",
            "Keys held by the verification cache.",
            &[(String::new(), gauges.api_key_cache_entries)],
        );
        family(
            &mut page,
            "tenantgate_db_connections",
            "gauge",
            "Open connections of the pool, and the idle ones.",
            &[
                ("state=\"open\"".into(), u64::from(gauges.db_connections)),
                (
                    "state=\"idle\"".into(),
                    u64::from(gauges.db_idle_connections),
                ),
            ],
        );
        family(
            &mut page,
            "tenantgate_password_work_in_transaction_total",
            "counter",
            "Password hashes and checks done while a transaction was open (none prepared).",
            &[(String::new(), gauges.password_work_in_transaction)],
        );
        family(
            &mut page,
            "tenantgate_password_resets_in_flight",
            "gauge",
            "Password reset requests answered and still being issued.",
            &[(String::new(), gauges.password_resets_in_flight)],
        );
        page
    }
}

/// One metric family: its help and type lines, then a sample per label set (empty for
/// none).
fn family(page: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(page, "# HELP {name} {help}");
    let _ = writeln!(page, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(page, "{name} {value}");
        } else {
            let _ = writeln!(page, "{name}{{{labels}}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_counts_what_happened() {
        let metrics = Metrics::default();
        metrics.response(200);
        metrics.response(204);
        metrics.response(429);
        metrics.response(600);
        metrics.key_verified(true);
        metrics.key_verified(false);
        metrics.rate_limited();
        metrics.introspection_answered(true);
        metrics.introspection_answered(true);
        metrics.introspection_answered(false);
        let page = metrics.render(&Gauges {
            sql_statements: 7,
            api_key_cache_entries: 1,
            db_connections: 3,
            db_idle_connections: 2,
            password_work_in_transaction: 0,
            password_resets_in_flight: 0,
        });
        assert!(page.contains("tenantgate_http_responses_total{class=\"2xx\"} 2\n"));
        assert!(page.contains("tenantgate_http_responses_total{class=\"4xx\"} 1\n"));
        assert!(page.contains("tenantgate_http_responses_total{class=\"5xx\"} 0\n"));
        assert!(page.contains("tenantgate_api_key_verifications_total{result=\"refused\"} 1\n"));
        assert!(page.contains("tenantgate_rate_limited_total 1\n"));
        assert!(page.contains("tenantgate_sql_statements_total 7\n"));
        assert!(page.contains("tenantgate_introspection_answers_total{source=\"cache\"} 2\n"));
        assert!(page.contains("tenantgate_introspection_answers_total{source=\"computed\"} 1\n"));
        assert!(page.contains("tenantgate_db_connections{state=\"idle\"} 2\n"));
    }
}
