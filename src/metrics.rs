//! Prometheus metrics at `/metrics`, in the text exposition format: counters kept in
//! atomics by the request path, and gauges read when scraped. No label carries an
//! organization, a user or a key, so the page says how busy the gateway is and nothing
//! about whom it serves.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

/// What is read at scrape time.
pub struct Gauges {
    pub sql_statements: u64,
    pub api_key_cache_entries: u64,
    pub db_connections: u32,
    pub db_idle_connections: u32,
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

    /// The exposition page.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut page = String::new();
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let _ = writeln!(
            page,
            "# HELP tenantgate_http_responses_total HTTP answers by status class."
        );
        let _ = writeln!(page, "# TYPE tenantgate_http_responses_total counter");
        for (index, counter) in self.responses.iter().enumerate() {
            let _ = writeln!(
                page,
                "tenantgate_http_responses_total{{class=\"{}xx\"}} {}",
                index + 1,
                read(counter)
            );
        }
        let _ = writeln!(
            page,
            "# HELP tenantgate_api_key_verifications_total API keys presented, by result."
        );
        let _ = writeln!(
            page,
            "# TYPE tenantgate_api_key_verifications_total counter"
        );
        let _ = writeln!(
            page,
            "tenantgate_api_key_verifications_total{{result=\"accepted\"}} {}",
            read(&self.keys_accepted)
        );
        let _ = writeln!(
            page,
            "tenantgate_api_key_verifications_total{{result=\"refused\"}} {}",
            read(&self.keys_refused)
        );
        let _ = writeln!(
            page,
            "# HELP tenantgate_rate_limited_total Operations refused by API key and organization rate limits."
        );
        let _ = writeln!(page, "# TYPE tenantgate_rate_limited_total counter");
        let _ = writeln!(
            page,
            "tenantgate_rate_limited_total {}",
            read(&self.rate_limited)
        );
        let _ = writeln!(
            page,
            "# HELP tenantgate_sql_statements_total SQL statements run by this process."
        );
        let _ = writeln!(page, "# TYPE tenantgate_sql_statements_total counter");
        let _ = writeln!(
            page,
            "tenantgate_sql_statements_total {}",
            gauges.sql_statements
        );
        let _ = writeln!(
            page,
            "# HELP tenantgate_api_key_cache_entries Keys held by the verification cache."
        );
        let _ = writeln!(page, "# TYPE tenantgate_api_key_cache_entries gauge");
        let _ = writeln!(
            page,
            "tenantgate_api_key_cache_entries {}",
            gauges.api_key_cache_entries
        );
        let _ = writeln!(
            page,
            "# HELP tenantgate_db_connections Open connections of the pool, and the idle ones."
        );
        let _ = writeln!(page, "# TYPE tenantgate_db_connections gauge");
        let _ = writeln!(
            page,
            "tenantgate_db_connections{{state=\"open\"}} {}",
            gauges.db_connections
        );
        let _ = writeln!(
            page,
            "tenantgate_db_connections{{state=\"idle\"}} {}",
            gauges.db_idle_connections
        );
        page
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
        let page = metrics.render(&Gauges {
            sql_statements: 7,
            api_key_cache_entries: 1,
            db_connections: 3,
            db_idle_connections: 2,
        });
        assert!(page.contains("tenantgate_http_responses_total{class=\"2xx\"} 2\n"));
        assert!(page.contains("tenantgate_http_responses_total{class=\"4xx\"} 1\n"));
        assert!(page.contains("tenantgate_http_responses_total{class=\"5xx\"} 0\n"));
        assert!(page.contains("tenantgate_api_key_verifications_total{result=\"refused\"} 1\n"));
        assert!(page.contains("tenantgate_rate_limited_total 1\n"));
        assert!(page.contains("tenantgate_sql_statements_total 7\n"));
        assert!(page.contains("tenantgate_db_connections{state=\"idle\"} 2\n"));
    }
}
