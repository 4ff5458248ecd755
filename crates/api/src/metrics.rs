//! Prometheus metrics: request counts and latency histograms by method, route pattern and
//! status (the pattern, not the raw path, so ids do not explode the label space), and the
//! business metrics of [`crate::business_metrics`] in the same registry.

use std::sync::Arc;

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

    /// Records one answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
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
