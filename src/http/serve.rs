//! The server's own accept loop: a cap on open connections and a deadline for each
//! request's head, which axum's `serve` does not offer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

/// What a connection may hold.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time to send a request's head (see `ServeConfig::header_read_timeout_secs`).
    pub header_read_timeout: std::time::Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves connections until `stop`, then lets each finish the request it is on and
/// waits for all to close.
///
/// At most `limits.max_connections` are open at once: past it the loop stops accepting,
/// so new connections wait in the kernel's accept queue (and a client's connect timeout
/// applies) until one closes. A connection must send its first request's head within
/// `limits.header_read_timeout` of being accepted, whatever the protocol, and over
/// HTTP/1 each later head within as long after the previous answer (hyper's header-read
/// timeout), so a slow or idle client cannot hold a slot for long.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use tower::{Service, ServiceExt};

    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    // Dropped to ask every connection to finish and close.
    let (closing, closing_watch) = tokio::sync::watch::channel(());
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = tokio::select! {
            () = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // A connection that failed before we took it is its client's
                    // business; anything else (out of file descriptors) needs a pause.
                    if !matches!(
                        error.kind(),
                        std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionRefused
                    ) {
                        tracing::error!(error = %error, "cannot accept connections");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let Ok(service) = make_service.call(peer).await;
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let service = {
            let asked = asked.clone();
            service.map_request(move |request| {
                asked.store(true, std::sync::atomic::Ordering::Relaxed);
                request
            })
        };
        let mut closing = closing_watch.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            builder.http2().timer(hyper_util::rt::TokioTimer::new());
            let connection = builder.serve_connection(
                hyper_util::rt::TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            );
            let mut connection = std::pin::pin!(connection);
            let first_request = tokio::time::sleep(limits.header_read_timeout);
            let mut first_request = std::pin::pin!(first_request);
            let mut awaiting_first_request = true;
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    served = connection.as_mut() => {
                        if let Err(error) = served {
                            tracing::debug!(error = %error, %peer, "connection ended");
                        }
                        break;
                    }
                    () = &mut first_request, if awaiting_first_request => {
                        if !asked.load(std::sync::atomic::Ordering::Relaxed) {
                            tracing::debug!(%peer, "no request in time; closing the connection");
                            break;
                        }
                        awaiting_first_request = false;
                    }
                    _ = closing.changed(), if !shutting_down => {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(closing);
    // Every connection holds a slot until it closes.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
