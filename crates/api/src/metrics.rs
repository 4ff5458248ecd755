//! Prometheus metrics: request counts and latency histograms by method, route pattern and
//! status, and the business metrics of [`crate::business_metrics`] in the same registry. Every
//! label has a bounded set of values whatever clients send: the route *pattern* (not the raw
//! path, so ids do not explode the label space), the standard methods (anything else is
//! `other`) and the status code.

use std::sync::Arc;

use actix_web::http::Method;
use domain::ModelCatalog;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::business_metrics::BusinessMetrics;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The bearer token `/metrics` requires when `METRICS_TOKEN` is set. Never printed.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// The shortest token accepted, in bytes.
    pub const MIN_BYTES: usize = 16;

    /// Accepts a token of at least [`Self::MIN_BYTES`] bytes.
    pub fn new(token: &str) -> Result<Self, String> {
        if token.len() < Self::MIN_BYTES {
            return Err(format!(
                "must be at least {} characters long (use a random string)",
                Self::MIN_BYTES
            ));
        }
        Ok(Self(token.to_owned()))
    }

    /// Whether `presented` is the token, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let (expected, presented) = (self.0.as_bytes(), presented.as_bytes());
        // The length is no secret worth hiding; the content is compared in full either way.
        expected.len() == presented.len()
            && expected
                .iter()
                .zip(presented)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

/// The label of an HTTP method: the standard ones by name, any other (a client may send any
/// token as a method) as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The registry and the request metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    business: Arc<BusinessMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics of a server with the built-in model catalog.
    pub fn new() -> Self {
        Self::with_catalog(&ModelCatalog::default())
    }

    /// The metrics of a server whose model label takes the names of `catalog`.
    pub fn with_catalog(catalog: &ModelCatalog) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, in seconds",
            latency.clone(),
        );
        let business = Arc::new(BusinessMetrics::register(&mut registry, catalog));
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            business,
        }
    }

    /// The business metrics, for the services to report into.
    pub fn business(&self) -> Arc<BusinessMetrics> {
        self.business.clone()
    }

    /// Sets the gauges read at a scrape (outbox backlogs, database pool).
    pub fn set_gauges(&self, gauges: &service::OperationalGauges) {
        self.business.set_gauges(gauges);
    }

    /// Records one answered request (`method` from [`method_label`]).
    pub fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_token_matches_only_itself_and_never_prints() {
        assert!(MetricsToken::new("short").is_err());
        let Ok(token) = MetricsToken::new("a-long-scraper-secret") else {
            panic!("a long token is accepted");
        };
        assert!(token.matches("a-long-scraper-secret"));
        assert!(!token.matches("a-long-scraper-secreT"));
        assert!(!token.matches("a-long-scraper-secret-and-more"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("scraper"));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for raw in ["FOO", "get", "PROPFIND", "X0123456789"] {
            let Ok(method) = Method::from_bytes(raw.as_bytes()) else {
                panic!("{raw} is a valid method token");
            };
            assert_eq!(method_label(&method), "other", "{raw}");
        }
    }
}
