//! HTTP readiness checks (`http:<path>`, `reference`) through hyper-util's
//! client, over TLS with the backend's own setup for a `wss://` service.

use crate::access::Access;
use crate::protocol::PROTOCOL_VERSION;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use url::Url;

/// Largest answer read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Why an HTTP readiness check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // fields named for what they hold
pub enum HttpCheckError {
    /// The request could not be sent or answered (no connection, a TLS
    /// failure, a broken answer).
    #[error("GET {url} failed")]
    Failed {
        url: Url,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A status that does not count.
    #[error("GET {url} answered HTTP {status}")]
    Status { url: Url, status: u16 },
    /// `reference` readiness: the body is not JSON.
    #[error("GET {url} did not answer JSON: {body:?}")]
    NotJson {
        url: Url,
        /// The start of the body.
        body: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// `reference` readiness: another protocol version.
    #[error("{url} speaks protocol {found}; this harness speaks protocol {PROTOCOL_VERSION}")]
    WrongProtocol {
        url: Url,
        /// The version it speaks.
        found: u64,
    },
    /// `reference` readiness: no protocol version at all.
    #[error("{url} does not say its protocol version: {body}")]
    NoProtocol {
        url: Url,
        /// The JSON it answered.
        body: Value,
    },
}

/// The `http(s)://` URL of `path` on the server of the WebSocket `ws_url`.
pub(super) fn url_of(ws_url: &Url, path: &str) -> Url {
    let mut url = ws_url.clone();
    let scheme = if ws_url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    url.set_scheme(scheme).expect("ws and http URLs convert");
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    url.set_path(path);
    url.set_query(query);
    url
}

/// `GET url` with the access's headers (not its token): the status and
/// the body, over TLS with the access's setup for `https://`.
pub(super) async fn get(
    url: &Url,
    access: &Access,
) -> Result<(http::StatusCode, Bytes), HttpCheckError> {
    let mut request = http::Request::get(url.as_str())
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(url, e.into()))?;
    access.headers.apply(request.headers_mut());
    let executor = TokioExecutor::new();
    match &access.tls {
        Some(tls) => {
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls.config()).clone())
                .https_or_http()
                .enable_http1()
                .build();
            send(Client::builder(executor).build(https), request, url).await
        }
        None => send(Client::builder(executor).build_http(), request, url).await,
    }
}

async fn send<C: Connect + Clone + Send + Sync + 'static>(
    client: Client<C, Empty<Bytes>>,
    request: http::Request<Empty<Bytes>>,
    url: &Url,
) -> Result<(http::StatusCode, Bytes), HttpCheckError> {
    let response = client
        .request(request)
        .await
        .map_err(|e| failed(url, e.into()))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| failed(url, e))?;
    Ok((status, body.to_bytes()))
}

fn failed(url: &Url, source: Box<dyn std::error::Error + Send + Sync>) -> HttpCheckError {
    HttpCheckError::Failed {
        url: url.clone(),
        source,
    }
}

/// `http:<path>[=<status>]`: passes on `status`, or any 2xx without one.
pub(super) async fn status(
    url: &Url,
    want: Option<u16>,
    access: &Access,
) -> Result<(), HttpCheckError> {
    let (got, _) = get(url, access).await?;
    if want.map_or(got.is_success(), |want| got.as_u16() == want) {
        Ok(())
    } else {
        Err(HttpCheckError::Status {
            url: url.clone(),
            status: got.as_u16(),
        })
    }
}

/// `reference`: `GET /health` answers 200 with JSON naming protocol 1.
pub(super) async fn reference_health(ws_url: &Url, access: &Access) -> Result<(), HttpCheckError> {
    let url = url_of(ws_url, "/health");
    let (status, body) = get(&url, access).await?;
    if status != http::StatusCode::OK {
        return Err(HttpCheckError::Status {
            url,
            status: status.as_u16(),
        });
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(source) => {
            return Err(HttpCheckError::NotJson {
                body: String::from_utf8_lossy(&body).chars().take(80).collect(),
                url,
                source,
            });
        }
    };
    match json.get("protocol").and_then(Value::as_u64) {
        Some(p) if p == u64::from(PROTOCOL_VERSION) => Ok(()),
        Some(found) => Err(HttpCheckError::WrongProtocol { url, found }),
        None => Err(HttpCheckError::NoProtocol { url, body: json }),
    }
}
