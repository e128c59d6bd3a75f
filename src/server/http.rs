//! The HTTP side of the one port: routing, `/health`, `/metrics` and the
//! authenticated WebSocket upgrade of `/ws`.

use super::{RateLimitExceeded, Shared, connection, echo};
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::auth::{AUTH_SUBPROTOCOL, AuthError, TokenSource, token_from_headers};
use http::header::{
    CONNECTION, CONTENT_TYPE, RETRY_AFTER, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

type Body = Full<Bytes>;

/// Serves HTTP/1.1 on one accepted socket until it upgrades, closes, times
/// out in the handshake, or the server shuts down.
pub(super) async fn serve_http(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let limits = &shared.config.limits;
    let service = {
        let shared = Arc::clone(&shared);
        service_fn(move |req| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(route(shared, req)) }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.handshake_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "http connection ended with an error");
    }
}

fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/ws") => upgrade(shared, req),
        (&Method::GET, path) if shared.config.echo && path != "/health" && path != "/metrics" => {
            upgrade(shared, req)
        }
        (&Method::GET, "/health") => health(&shared),
        (&Method::GET, "/metrics") => text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            shared.render_metrics(),
        ),
        (_, "/ws" | "/health" | "/metrics") => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "only GET is served here",
        ),
        _ => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the routes are /ws, /health and /metrics",
        ),
    }
}

fn health(shared: &Shared) -> Response<Body> {
    let body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": PROTOCOL_VERSION,
        "connections": shared.manager.connection_count(),
        "uptime_ms": u64::try_from(shared.started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    text(StatusCode::OK, "application/json", body.to_string())
}

/// Checks the upgrade request and its token, answers `101`, and hands the
/// upgraded socket to a connection task (an echo task in echo mode, where
/// there is no authentication).
fn upgrade(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let Some(accept) = websocket_accept(req.headers()) else {
        return json_error(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "/ws takes a WebSocket upgrade (version 13)",
        );
    };
    if shared.config.echo {
        return switch_protocols(shared, req, accept, false, echo::serve);
    }
    match authenticate(&shared, req.headers()) {
        Ok((user_id, select_subprotocol)) => {
            if let Err(over) = shared.rate_limiter.check_connection(&user_id) {
                return too_many_connections(&shared, &user_id, &over);
            }
            switch_protocols(shared, req, accept, select_subprotocol, |shared, ws| {
                connection::serve(shared, ws, user_id)
            })
        }
        Err(error) => {
            shared
                .metrics
                .auth_rejections
                .get_or_create(&vec![("reason", error.code())])
                .inc();
            tracing::info!(%error, "handshake refused");
            json_error(StatusCode::UNAUTHORIZED, error.code(), &error.to_string())
        }
    }
}

/// `429` with `Retry-After` for a user over the connection rate.
fn too_many_connections(
    shared: &Shared,
    user_id: &str,
    over: &RateLimitExceeded,
) -> Response<Body> {
    shared
        .metrics
        .rate_limit_rejections
        .get_or_create(&vec![("kind", over.kind.as_str())])
        .inc();
    tracing::info!(user = %user_id, retry_after_ms = over.retry_after_ms(), "too many connection attempts");
    let body = json!({
        "error": "rate_limited",
        "message": over.to_string(),
        "retry_after_ms": over.retry_after_ms(),
    });
    let mut response = text(
        StatusCode::TOO_MANY_REQUESTS,
        "application/json",
        body.to_string(),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(over.retry_after_secs()));
    response
}

/// Answers `101` and spawns `serve` on the upgraded socket.
fn switch_protocols<F, Fut>(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    accept: String,
    select_subprotocol: bool,
    serve: F,
) -> Response<Body>
where
    F: FnOnce(Arc<Shared>, WebSocketStream<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_ACCEPT, accept);
    if select_subprotocol {
        response = response.header(SEC_WEBSOCKET_PROTOCOL, AUTH_SUBPROTOCOL);
    }
    let config = websocket_config(&shared);
    // Only the upgrade goes into the task: the request, its headers and
    // hyper's read buffer are freed once the socket is handed over.
    let upgrade = hyper::upgrade::on(&mut req);
    let task = {
        let shared = Arc::clone(&shared);
        async move {
            let upgraded = match upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => return tracing::debug!(%error, "upgrade did not complete"),
            };
            // `serve_http` serves a `TcpStream`, so the downcast holds.
            let Ok(parts) = upgraded.downcast::<TokioIo<TcpStream>>() else {
                return tracing::error!("the upgraded connection is not a TCP stream");
            };
            let stream = parts.io.into_inner();
            // What hyper read past the request: the client's first frames, if
            // any. Its buffer is freed here; an empty view would keep it.
            let read = parts.read_buf.to_vec();
            drop(parts.read_buf);
            let ws = if read.is_empty() {
                WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await
            } else {
                WebSocketStream::from_partially_read(stream, read, Role::Server, Some(config)).await
            };
            serve(shared, ws).await;
        }
    };
    shared.tasks.spawn(task);
    response
        .body(Body::default())
        .expect("a 101 response with valid headers")
}

/// The `Sec-WebSocket-Accept` value when the request is a valid upgrade.
fn websocket_accept(headers: &HeaderMap) -> Option<String> {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let version_13 = headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    if has_token(CONNECTION, "upgrade") && has_token(UPGRADE, "websocket") && version_13 {
        headers
            .get(SEC_WEBSOCKET_KEY)
            .map(|key| derive_accept_key(key.as_bytes()))
    } else {
        None
    }
}

/// The token's user id, and whether to select the `jwt-auth` subprotocol.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(String, bool), AuthError> {
    let (token, source) = token_from_headers(headers)?;
    let claims = shared.auth.verify(token)?;
    let select = matches!(source, TokenSource::Subprotocol { select: true });
    Ok((claims.sub, select))
}

fn websocket_config(shared: &Shared) -> WebSocketConfig {
    let limits = &shared.config.limits;
    let mut max_write_buffer_size = limits.max_write_buffer_size;
    if shared.config.echo {
        // An echo writes back messages as large as it reads: room for one more.
        let largest_frame = limits.max_message_size + 14;
        max_write_buffer_size = max_write_buffer_size.max(limits.write_buffer_size + largest_frame);
    }
    WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_size)
        .write_buffer_size(limits.write_buffer_size)
        .max_write_buffer_size(max_write_buffer_size)
        .max_message_size(Some(limits.max_message_size))
        .max_frame_size(Some(limits.max_frame_size))
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": code, "message": message });
    text(status, "application/json", body.to_string())
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
