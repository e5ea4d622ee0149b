//! A TCP proxy in front of a real service, to take it away (as a network outage would)
//! and bring it back without touching the service itself. The proxy keeps its port
//! through the outage (were it released, another process could take it meanwhile), so
//! during one a connection is accepted and closed at once rather than refused; open
//! ones are cut.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on a free port, forwarding to `target` (`host:port`).
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (target, open, tasks) = (target.to_owned(), Arc::clone(&up), Arc::clone(&connections));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                // Checked again under the lock `stop` drains with: a connection taken
                // just before an outage does not outlive it.
                let mut open_ones = tasks.lock().unwrap();
                if open.load(Ordering::SeqCst) {
                    open_ones.push(conn);
                } else {
                    conn.abort();
                }
            }
        });
        Proxy {
            port,
            up,
            accept,
            connections,
        }
    }

    /// The outage: new connections are cut at once and open ones are cut.
    pub fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// The service is back, on the same port.
    pub async fn resume(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
        self.accept.abort();
    }
}
