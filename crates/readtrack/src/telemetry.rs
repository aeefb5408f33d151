//! Logs and traces: log lines (pretty or JSON) filtered by `READTRACK_LOG`, and, when an
//! OTLP endpoint is configured, the same spans exported as OpenTelemetry traces over
//! OTLP/HTTP (protobuf) to a collector (the OpenTelemetry Collector, Jaeger, Tempo …).

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// What the traces exclude whatever `READTRACK_LOG` says: the exporter's own HTTP client
/// would otherwise trace its own exports, one span per batch, forever.
const TRACE_FILTER: &str =
    "info,sqlx=warn,hyper=off,hyper_util=off,h2=off,reqwest=off,opentelemetry=off";

/// Flushes and stops the trace exporter when dropped; keep it until the process ends.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (at most a few seconds' worth) before the exit.
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.provider.take() {
            // The exporter is a blocking client on its own thread; wait off the runtime.
            let result = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = result {
                eprintln!("readtrack: the last traces were not exported: {e}");
            }
        }
    }
}

/// The collector's address for traces: an endpoint given as a base (`http://host:4318`,
/// as `OTEL_EXPORTER_OTLP_ENDPOINT` is written) gets the signal's path `/v1/traces`; one
/// that names a path is used as it is.
pub fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(endpoint.trim()).map_err(|e| {
        anyhow::anyhow!("must be an http:// or https:// URL, not {endpoint:?}: {e}")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("must be an http:// or https:// URL, not {endpoint:?}");
    }
    Ok(if url.path() == "/" {
        format!("{}/v1/traces", url.as_str().trim_end_matches('/'))
    } else {
        url.to_string()
    })
}

/// Installs the global subscriber: log lines in `log_format` (`pretty` or `json`)
/// filtered by `READTRACK_LOG` (or `RUST_LOG`), and with `otlp_traces` the spans sent to
/// that URL (see [`traces_url`]) with the W3C `traceparent` of incoming requests honoured.
pub fn init(log_format: &str, otlp_traces: Option<&str>) -> anyhow::Result<Telemetry> {
    let log_filter = EnvFilter::try_from_env("READTRACK_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let logs = if log_format == "json" {
        tracing_subscriber::fmt::layer().json().boxed()
    } else {
        tracing_subscriber::fmt::layer().boxed()
    }
    .with_filter(log_filter);

    let (provider, traces) = match otlp_traces {
        Some(url) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(url)
                .with_timeout(std::time::Duration::from_secs(10))
                .build()
                .context("cannot set up the OTLP trace exporter")?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("readtrack")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build();
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("readtrack"))
                .with_filter(EnvFilter::new(TRACE_FILTER));
            (Some(provider), Some(layer))
        }
        None => (None, None),
    };
    // A second initialisation (tests that run the server in-process) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn a_base_endpoint_gets_the_traces_path_and_a_full_one_is_kept() {
        assert_eq!(
            traces_url("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example/ingest/v1/traces").unwrap(),
            "https://otel.example/ingest/v1/traces"
        );
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("grpc://collector:4317").is_err());
    }
}
