//! `tarn serve` (and `tarn run` with a `serve:` section): an HTTP/1.1
//! listener for CloudTrail Data's `PutAuditEvents`, signed with SigV4 as
//! AWS's SDKs sign it, plus `/healthz` and Prometheus `/metrics`. The
//! channel source behind it runs in the one ingest driver; when its commit
//! fails the calls waiting on it hear an internal failure (clients retry)
//! and the driver starts again. A non-loopback address needs TLS (rustls).

use crate::catalog::eds::EventDataStore;
use crate::ingest::{IngestError, drive};
use crate::lake::Lake;
use crate::metrics;
use crate::schema::Registry;
use crate::sources::channel::api::{ApiError, MAX_BODY};
use crate::sources::channel::sigv4::{self, Credentials};
use crate::sources::channel::{self, ChannelSettings, Intake};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Connections served at once: each holds at most one body of
/// [`MAX_BODY`] bytes, so this bounds the memory calls take. More wait in
/// the listen queue.
const CONNECTIONS: usize = 64;
/// How long a client may take to send its headers, and then its body.
const HEADERS_WITHIN: Duration = Duration::from_secs(30);
const BODY_WITHIN: Duration = Duration::from_secs(60);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// A PEM certificate chain and its key; required off loopback.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The credentials callers sign with; None serves only `/healthz` and
    /// `/metrics` (`tarn run` without channels).
    pub credentials: Option<Credentials>,
    pub channels: ChannelSettings,
}

/// Why the listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} is not a loopback address, so tarn serves it only over TLS; give --tls-cert and --tls-key (or listen on 127.0.0.1)")]
    NeedsTls(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// What every request handler shares.
struct State {
    intake: Option<Intake>,
    credentials: Option<Credentials>,
    /// False while the channel source's driver is down.
    healthy: Arc<AtomicBool>,
}

/// A bound listener, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: ServeOptions,
}

impl Server {
    /// Binds the address (port 0 picks a free one) and loads the TLS key.
    pub async fn bind(options: ServeOptions) -> Result<Server, ServeError> {
        if !options.listen.ip().is_loopback() && options.tls.is_none() {
            return Err(ServeError::NeedsTls(options.listen));
        }
        let tls = options.tls.as_ref().map(|(cert, key)| tls_acceptor(cert, key)).transpose()?;
        let listener =
            tokio::net::TcpListener::bind(options.listen).await.map_err(|source| ServeError::Bind { addr: options.listen, source })?;
        Ok(Server { listener, tls, options })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` turns true; the calls in flight are committed
    /// and answered first.
    pub async fn run(
        self,
        lake: Lake,
        registry: Arc<Registry>,
        stores: Vec<EventDataStore>,
        stop: watch::Receiver<bool>,
    ) -> Result<(), ServeError> {
        let healthy = Arc::new(AtomicBool::new(true));
        let (intake, ingest) = match &self.options.credentials {
            Some(_) => {
                let (intake, source) = channel::open(&lake, &registry, &stores, self.options.channels.clone())?;
                let task = tokio::spawn(keep_driving(lake.clone(), source, stop.clone(), healthy.clone()));
                (Some(intake), Some(task))
            }
            None => (None, None),
        };
        let state = Arc::new(State { intake, credentials: self.options.credentials.clone(), healthy });
        let mut stop_accepting = stop.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                _ = stop_accepting.changed() => break,
            };
            let (stream, _) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!("serve: cannot accept a connection: {e}");
                        continue;
                    }
                },
                _ = stop_accepting.changed() => break,
            };
            let (state, tls) = (state.clone(), self.tls.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let service = hyper::service::service_fn(move |request| handle(request, state.clone()));
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADERS_WITHIN);
                let served = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await,
                        Err(e) => return tracing::debug!("serve: TLS handshake failed: {e}"),
                    },
                    None => http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await,
                };
                if let Err(e) = served {
                    tracing::debug!("serve: connection ended: {e}");
                }
            });
        }
        if let Some(task) = ingest {
            let _ = task.await;
        }
        Ok(())
    }
}

/// Runs the channel source in the driver until stopped; a failed commit
/// fails the calls that waited on it, and the driver starts again.
async fn keep_driving(lake: Lake, mut source: channel::ChannelSource, stop: watch::Receiver<bool>, healthy: Arc<AtomicBool>) {
    loop {
        match drive(&lake, &mut source, false, stop.clone()).await {
            Ok(()) => return,
            Err(e) => {
                healthy.store(false, Ordering::Relaxed);
                tracing::error!("serve: a commit failed, the calls in it were answered InternalFailure: {}", crate::error_line(&e));
                source.abandon();
                tokio::time::sleep(Duration::from_secs(1)).await;
                healthy.store(true, Ordering::Relaxed);
                if *stop.borrow() {
                    return;
                }
            }
        }
    }
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| ServeError::Tls(format!("{}: cannot read a PEM certificate chain: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!("{}: holds no certificate", cert.display())));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| ServeError::Tls(format!("{}: cannot read a PEM private key: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

type Reply = Response<Full<Bytes>>;

async fn handle(request: Request<Incoming>, state: Arc<State>) -> Result<Reply, std::convert::Infallible> {
    let reply = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => {
            if state.healthy.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "the lake commit is failing; see tarn's log\n")
            }
        }
        (&Method::GET, "/metrics") => {
            let mut reply = text(StatusCode::OK, &metrics::global().render());
            reply.headers_mut().insert("content-type", http::HeaderValue::from_static("text/plain; version=0.0.4"));
            reply
        }
        (&Method::POST, "/PutAuditEvents") if state.intake.is_some() => {
            let reply = put_audit_events(request, &state).await;
            let answer = match &reply {
                Ok(_) => "200".to_string(),
                Err(e) => e.code.to_string(),
            };
            metrics::global().request("PutAuditEvents", &answer);
            reply.unwrap_or_else(|e| error(&e))
        }
        (_, path) => error(&ApiError {
            code: "UnknownOperationException",
            status: 404,
            message: format!("tarn serves no {} {path}", request.method()),
        }),
    };
    Ok(reply)
}

async fn put_audit_events(request: Request<Incoming>, state: &State) -> Result<Reply, ApiError> {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let mut headers = Vec::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().map_err(|_| ApiError::client("IncompleteSignatureException", format!("header {name} is not text")))?;
        headers.push((name.as_str().to_string(), value.to_string()));
    }
    let read = tokio::time::timeout(BODY_WITHIN, Limited::new(body, MAX_BODY).collect()).await;
    let body = read
        .map_err(|_| ApiError {
            code: "RequestTimeoutException",
            status: 408,
            message: format!("the body did not arrive within {BODY_WITHIN:?}"),
        })?
        .map_err(|e| ApiError {
            code: "ValidationException",
            status: 413,
            message: format!("the body cannot be read or is larger than {MAX_BODY} bytes: {e}"),
        })?;
    let body = body.to_bytes();
    if let Some(credentials) = &state.credentials {
        sigv4::verify(parts.method.as_str(), &target, &headers, &body, credentials, std::time::SystemTime::now()).map_err(|e| {
            let (code, status) = e.code();
            ApiError { code, status, message: e.to_string() }
        })?;
    }
    let intake = state.intake.as_ref().ok_or_else(|| ApiError::client("UnknownOperationException", "no channels are served here"))?;
    let answer = intake.put_audit_events(parts.uri.query().unwrap_or(""), &body).await?;
    let json = serde_json::to_string(&answer).unwrap_or_default();
    let mut reply = text(StatusCode::OK, &json);
    reply.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    Ok(reply)
}

fn text(status: StatusCode, body: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())));
    *reply.status_mut() = status;
    reply.headers_mut().insert("x-amzn-requestid", request_id());
    reply
}

/// A rest-json error: the code in `x-amzn-ErrorType` and in `__type`.
fn error(e: &ApiError) -> Reply {
    let mut reply = text(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST), &e.body());
    let headers = reply.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static("application/json"));
    if let Ok(code) = http::HeaderValue::from_str(e.code) {
        headers.insert("x-amzn-errortype", code);
    }
    reply
}

fn request_id() -> http::HeaderValue {
    let id = crate::uuid_v4(crate::unique_seed(), crate::unique_seed());
    http::HeaderValue::from_str(&id).unwrap_or(http::HeaderValue::from_static("0"))
}
