//! A TCP proxy in front of PostgreSQL that takes the database away and brings it back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A TCP proxy in front of PostgreSQL that can take the database away and bring it back.
///
/// `cut` ends every connection as `pg_terminate_backend` would, and refuses new ones: nothing
/// more reaches the server, while what the server already answered still reaches the client,
/// so a statement that committed is answered and one that did not arrive is not run.
/// `sever` drops both directions at once, as a network partition does: the client hears nothing
/// more, whatever the server does with what it already received.
pub struct PgProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
    severed: Arc<tokio::sync::Notify>,
}

impl PgProxy {
    pub async fn to(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let severed = Arc::new(tokio::sync::Notify::new());
        let (accept_up, accept_cut, accept_severed, target) =
            (up.clone(), cut.clone(), severed.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped at once: the database is away
                }
                let (target, cut, severed) =
                    (target.clone(), accept_cut.clone(), accept_severed.clone());
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(target).await {
                        tokio::select! {
                            _ = forward(client, server, cut) => {}
                            _ = severed.notified() => {}
                        }
                    }
                });
            }
        });
        Self {
            port,
            up,
            cut,
            severed,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn sever(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.severed.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn forward(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    cut: Arc<tokio::sync::Notify>,
) {
    use tokio::io::AsyncWriteExt;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async {
        tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
            _ = cut.notified() => {}
        }
        // The server sees the client go away and ends the session.
        let _ = server_write.shutdown().await;
    };
    let to_client = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(to_server, to_client);
}
