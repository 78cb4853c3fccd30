//! The client port: accepts connections, frames requests, tells four-letter
//! words from sessions, and enforces the limits that protect the server from
//! a misbehaving peer (frame size, per-address connection count, a client
//! that connects and never speaks).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info, warn};
use zkproto::jute::Jute;
use zkproto::records::ConnectRequest;

use crate::client_port::fourlw::is_four_letter_word;
use crate::config::Config;
use crate::pipeline::msg::{ConnTx, CoreMsg, Outgoing};

/// How long a new connection may stay silent (`zookeeper.nio.sessionlessCnxnTimeout`).
const SESSIONLESS_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Live connections per client address, for maxClientCnxns.
#[derive(Default, Clone)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, u32>>>);

struct PerIpGuard(PerIp, IpAddr);

impl PerIp {
    fn try_add(&self, ip: IpAddr, max: u32) -> Option<PerIpGuard> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpGuard(self.clone(), ip))
    }
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Accepts clients until the listener fails or the task is aborted.
pub async fn serve(listener: TcpListener, core: mpsc::Sender<CoreMsg>, cfg: Arc<Config>) {
    let per_ip = PerIp::default();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(guard) = per_ip.try_add(remote.ip(), cfg.max_client_cnxns) else {
            info!(
                "too many connections from {} - max is {}, closing the new one",
                remote.ip(),
                cfg.max_client_cnxns
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let core = core.clone();
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
            if let Err(why) = connection(stream, remote, id, core, cfg).await {
                info!("closing connection from {remote}: {why}");
            }
            drop(guard);
        });
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, String> {
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("read error: {e}")),
    }
    read_payload(rd, i32::from_be_bytes(len), max)
        .await
        .map(Some)
}

async fn read_payload<R: AsyncRead + Unpin>(
    rd: &mut R,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, String> {
    if len < 0 || len as usize > max {
        return Err(format!(
            "invalid frame length {len} (jute.maxbuffer is {max})"
        ));
    }
    let mut buf = vec![0u8; len as usize];
    rd.read_exact(&mut buf)
        .await
        .map_err(|e| format!("connection ended inside a frame: {e}"))?;
    Ok(buf)
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    id: u64,
    core: mpsc::Sender<CoreMsg>,
    cfg: Arc<Config>,
) -> Result<(), String> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, rd);
    let mut first = [0u8; 4];
    match tokio::time::timeout(SESSIONLESS_TIMEOUT, rd.read_exact(&mut first)).await {
        Err(_) => return Err("no request within 10 s of connecting".into()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
        Ok(Err(e)) => return Err(format!("read error: {e}")),
        Ok(Ok(_)) => {}
    }
    if let Some(cmd) = is_four_letter_word(&first) {
        if cmd == "stmk" {
            let mut mask = [0u8; 8];
            let _ = tokio::time::timeout(SESSIONLESS_TIMEOUT, rd.read_exact(&mut mask)).await;
        }
        let (tx, rx) = oneshot::channel();
        core.send(CoreMsg::FourLetter {
            cmd: cmd.to_string(),
            remote,
            reply: tx,
        })
        .await
        .map_err(|_| "server is shutting down")?;
        let out = rx.await.unwrap_or_default();
        let _ = wr.write_all(out.as_bytes()).await;
        let _ = wr.shutdown().await;
        return Ok(());
    }
    let max = cfg.jute_max_buffer;
    let payload = tokio::time::timeout(
        SESSIONLESS_TIMEOUT,
        read_payload(&mut rd, i32::from_be_bytes(first), max),
    )
    .await
    .map_err(|_| "incomplete ConnectRequest within 10 s".to_string())??;
    let req = ConnectRequest::from_bytes(&payload)
        .map_err(|e| format!("malformed ConnectRequest: {e}"))?;
    let (otx, orx, queued) = ConnTx::new();
    let done = Arc::new(Notify::new());
    tokio::spawn(writer(wr, orx, queued, done.clone()));
    core.send(CoreMsg::Connect {
        conn: id,
        req,
        remote,
        tx: otx,
    })
    .await
    .map_err(|_| "server is shutting down")?;
    let result = loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd, max) => f,
            _ = done.notified() => break Ok(()),
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if frame.len() < 8 {
            break Err(format!(
                "request of {} bytes is too short for a header",
                frame.len()
            ));
        }
        let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let op = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let body = frame[8..].to_vec();
        if core
            .send(CoreMsg::Request {
                conn: id,
                xid,
                op,
                body,
            })
            .await
            .is_err()
        {
            break Ok(());
        }
    };
    let _ = core.send(CoreMsg::Closed { conn: id }).await;
    debug!("connection {id} from {remote} ended");
    result
}

/// Writes queued frames, coalescing bursts into one write.
async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    done: Arc<Notify>,
) {
    let mut buf = Vec::with_capacity(16 * 1024);
    'outer: while let Some(m) = rx.recv().await {
        let mut close = false;
        match m {
            Outgoing::Frame(f) => buf.extend_from_slice(&f),
            Outgoing::Close => close = true,
        }
        while !close && buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(Outgoing::Frame(f)) => buf.extend_from_slice(&f),
                Ok(Outgoing::Close) => close = true,
                Err(_) => break,
            }
        }
        if !buf.is_empty() && wr.write_all(&buf).await.is_err() {
            break 'outer;
        }
        queued.fetch_sub(buf.len(), Ordering::Relaxed);
        buf.clear();
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
    done.notify_one();
}
