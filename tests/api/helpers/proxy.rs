//! A TCP proxy in front of PostgreSQL that takes the database away and brings it back, and
//! records the round trips its clients make.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A TCP proxy in front of PostgreSQL that can take the database away and bring it back.
///
/// `cut` ends every connection as `pg_terminate_backend` would, and refuses new ones: nothing
/// more reaches the server, while what the server already answered still reaches the client,
/// so a statement that committed is answered and one that did not arrive is not run.
/// `sever` drops both directions at once, as a network partition does: the client hears nothing
/// more, whatever the server does with what it already received.
/// `round_trips` are the round trips clients made over connections that are not encrypted.
pub struct PgProxy {
    pub port: u16,
    pub round_trips: RoundTrips,
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
        let round_trips = RoundTrips::default();
        let (accept_up, accept_cut, accept_severed, target) =
            (up.clone(), cut.clone(), severed.clone(), target.to_owned());
        let accept_round_trips = round_trips.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped at once: the database is away
                }
                let (target, cut, severed, round_trips) = (
                    target.clone(),
                    accept_cut.clone(),
                    accept_severed.clone(),
                    accept_round_trips.clone(),
                );
                tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(target).await {
                        tokio::select! {
                            _ = forward(client, server, cut, round_trips) => {}
                            _ = severed.notified() => {}
                        }
                    }
                });
            }
        });
        Self {
            port,
            round_trips,
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
    round_trips: RoundTrips,
) {
    use tokio::io::AsyncWriteExt;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async {
        tokio::select! {
            _ = copy_reading(&mut client_read, &mut server_write, round_trips) => {}
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

/// Copies what a client sends to the server, reading its messages on the way.
async fn copy_reading(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    round_trips: RoundTrips,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut messages = ClientMessages::default();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..read]).await?;
        messages.read(&buffer[..read], &round_trips);
    }
}

/// The round trips clients made through the proxy, in order: for each, the SQL of the
/// statements it ran (none for a bare `Sync`, a connection check, or a statement only prepared).
#[derive(Clone, Default)]
pub struct RoundTrips(Arc<Mutex<Vec<Vec<String>>>>);

impl RoundTrips {
    /// The round trips made since the last call.
    pub fn take(&self) -> Vec<Vec<String>> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Checks that the `requests` requests made since the last call were done together: each in
    /// one of the statements that `items` counts items in (0: not such a statement), and in
    /// fewer than half as many statements as there were requests.
    pub fn assert_done_together(&self, requests: usize, items: impl Fn(&str) -> usize) {
        let statements: Vec<usize> = self
            .take()
            .iter()
            .flatten()
            .map(|sql| items(sql))
            .filter(|items| *items > 0)
            .collect();
        assert_eq!(
            statements.iter().sum::<usize>(),
            requests,
            "each request is in one statement: {statements:?}"
        );
        assert!(
            statements.len() < requests / 2,
            "{requests} requests in {statements:?}"
        );
    }

    fn push(&self, statements: Vec<String>) {
        self.0.lock().unwrap().push(statements);
    }
}

/// SSLRequest and GSSENCRequest: what follows is encrypted, and not read.
const ENCRYPTION_REQUESTS: [usize; 2] = [80_877_103, 80_877_104];

/// What one client connection has sent, read as PostgreSQL's frontend messages: a round trip
/// ends with `Sync` (the extended protocol) or is one `Query` (the simple one).
#[derive(Default)]
struct ClientMessages {
    unread: Vec<u8>,
    started: bool,
    encrypted: bool,
    /// The SQL of each prepared statement, by name.
    prepared: HashMap<String, String>,
    /// The statements of the round trip under way.
    statements: Vec<String>,
}

/// The NUL-terminated string at the start of `bytes`.
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn length_at(bytes: &[u8], at: usize) -> usize {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

impl ClientMessages {
    fn read(&mut self, bytes: &[u8], round_trips: &RoundTrips) {
        if self.encrypted {
            return;
        }
        self.unread.extend_from_slice(bytes);
        loop {
            // The startup message (or a request for encryption) has no type byte; every later
            // one has.
            let header = if self.started { 5 } else { 8 };
            if self.unread.len() < header {
                return;
            }
            let end = if self.started {
                1 + length_at(&self.unread, 1)
            } else {
                length_at(&self.unread, 0)
            };
            if self.unread.len() < end {
                return;
            }
            if !self.started {
                if ENCRYPTION_REQUESTS.contains(&length_at(&self.unread, 4)) {
                    self.encrypted = true;
                    return;
                }
                self.started = true;
            } else {
                let body = self.unread[5..end].to_vec();
                self.message(self.unread[0], &body, round_trips);
            }
            self.unread.drain(..end);
        }
    }

    fn message(&mut self, kind: u8, body: &[u8], round_trips: &RoundTrips) {
        match kind {
            // Prepared (alone, or with its first run): counted when it runs.
            b'P' => {
                let name = c_string(body);
                let sql = c_string(&body[name.len() + 1..]);
                self.prepared.insert(name, sql);
            }
            b'B' => {
                let portal = c_string(body);
                let name = c_string(&body[portal.len() + 1..]);
                let sql = self.prepared.get(&name).cloned().unwrap_or_default();
                self.statements.push(sql);
            }
            b'Q' => round_trips.push(vec![c_string(body)]),
            b'S' => round_trips.push(std::mem::take(&mut self.statements)),
            _ => {}
        }
    }
}
