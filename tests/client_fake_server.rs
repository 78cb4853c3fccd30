//! Tests of `zkcli::client` against a scripted fake server, for what a
//! real ZooKeeper never does on purpose: old-style handshakes, read-only
//! servers, malformed or out-of-order frames, tiny timeouts. No ZooKeeper
//! installation is needed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedReceiver;
use zkcli::client::{Client, ClientOptions, State, WatchedEvent};
use zkproto::consts::{event, state as kstate, xid};
use zkproto::records::{
    AuthPacket, ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, Stat, StatResponse,
    WatcherEvent,
};
use zkproto::{op, ErrorCode, Jute, Reader, Writer};

const WAIT: Duration = Duration::from_secs(5);
const SESSION: i64 = 0x1234;

async fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    tokio::time::timeout(WAIT, s.read_exact(&mut len))
        .await
        .expect("client sent nothing")
        .expect("reading a frame length");
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await.expect("reading a frame");
    buf
}

async fn write_raw(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).await.expect("writing to the client");
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    w.write_raw(body);
    w.finish_frame()
}

fn reply(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader { xid, zxid, err }.write(&mut w);
    w.write_raw(body);
    w.finish_frame()
}

/// Reads a request; returns its header and body.
async fn read_request(s: &mut TcpStream) -> (RequestHeader, Vec<u8>) {
    let f = read_frame(s).await;
    let mut r = Reader::new(&f);
    let h = RequestHeader::read(&mut r).expect("request header");
    (h, r.rest().to_vec())
}

/// Accepts a connection and answers its ConnectRequest with `resp`.
async fn accept_session(l: &TcpListener, resp: ConnectResponse) -> (TcpStream, ConnectRequest) {
    let (mut s, _) = tokio::time::timeout(WAIT, l.accept())
        .await
        .expect("client did not connect")
        .expect("accept");
    let req = ConnectRequest::from_bytes(&read_frame(&mut s).await).expect("ConnectRequest");
    write_raw(&mut s, &frame(&resp.to_bytes())).await;
    (s, req)
}

fn response(time_out: i32, read_only: Option<bool>) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        time_out,
        session_id: SESSION,
        passwd: Some(vec![1; 16]),
        read_only,
    }
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    (l, addr)
}

async fn next_event(ev: &mut UnboundedReceiver<WatchedEvent>) -> WatchedEvent {
    tokio::time::timeout(WAIT, ev.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("event channel closed")
}

fn stat_body(version: i32) -> Vec<u8> {
    StatResponse {
        stat: Stat {
            version,
            ..Stat::default()
        },
    }
    .to_bytes()
}

#[tokio::test]
async fn old_handshake_and_read_only() {
    let (l, addr) = listener().await;
    let (c, mut ev) = Client::new(&addr, ClientOptions::default()).unwrap();
    // A server that omits the trailing readOnly byte (36-byte response).
    let (_s, req) = accept_session(&l, response(20000, None)).await;
    assert_eq!(
        (req.protocol_version, req.session_id, req.last_zxid_seen),
        (0, 0, 0)
    );
    assert_eq!(req.time_out, 30000);
    assert_eq!(req.passwd, Some(vec![0; 16]));
    assert_eq!(req.read_only, Some(false));
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    assert_eq!(c.state(), State::Connected);
    assert_eq!(
        (c.session_id(), c.negotiated_timeout_ms()),
        (SESSION, 20000)
    );
    assert_eq!(c.session_password(), vec![1; 16]);

    let (l, addr) = listener().await;
    let opts = ClientOptions {
        can_be_read_only: true,
        ..Default::default()
    };
    let (c, mut ev) = Client::new(&addr, opts).unwrap();
    let (_s, req) = accept_session(&l, response(20000, Some(true))).await;
    assert_eq!(req.read_only, Some(true));
    assert_eq!(next_event(&mut ev).await.state, kstate::CONNECTED_READ_ONLY);
    assert_eq!(c.state(), State::ConnectedReadOnly);
    c.wait_connected(WAIT).await.unwrap();
}

#[tokio::test]
async fn malformed_input_is_connection_loss() {
    let (l, addr) = listener().await;
    let (c, mut ev) = Client::new(&addr, ClientOptions::default()).unwrap();

    // 1. A good reply, then a frame length far beyond the limit.
    let (mut s, _) = accept_session(&l, response(30000, Some(false))).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.exists("/x", false).await });
    let (h, body) = read_request(&mut s).await;
    assert_eq!(h.op_type, op::EXISTS);
    assert!(h.xid > 0);
    let mut r = Reader::new(&body);
    assert_eq!(r.read_string().unwrap(), "/x");
    write_raw(&mut s, &reply(h.xid, 42, 0, &stat_body(3))).await;
    assert_eq!(call.await.unwrap().unwrap().map(|s| s.version), Some(3));
    assert_eq!(c.last_zxid(), 42);
    // A notification's zxid is not tracked, and an unwatched one is dropped.
    let note = WatcherEvent {
        event_type: event::NODE_CREATED,
        state: kstate::SYNC_CONNECTED,
        path: "/x".into(),
    };
    write_raw(&mut s, &reply(xid::NOTIFICATION, 100, 0, &note.to_bytes())).await;
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.exists("/x", false).await });
    let (h, _) = read_request(&mut s).await;
    write_raw(&mut s, &[0x7f, 0xff, 0xff, 0xff, 0, 0]).await;
    assert_eq!(call.await.unwrap(), Err(ErrorCode::ConnectionLoss));
    assert!(h.xid > 0);
    let e = next_event(&mut ev).await;
    assert_eq!(
        (e.event_type, e.state, e.path),
        (event::NONE, kstate::DISCONNECTED, None)
    );
    assert_eq!(c.last_zxid(), 42);

    // 2. The client resumes the session; a reply with the wrong xid.
    let (mut s, req) = accept_session(&l, response(30000, Some(false))).await;
    assert_eq!((req.session_id, req.last_zxid_seen), (SESSION, 42));
    assert_eq!(req.passwd, Some(vec![1; 16]));
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.get_data("/x", false).await });
    let (h, _) = read_request(&mut s).await;
    write_raw(&mut s, &reply(h.xid + 7, 43, 0, &[])).await;
    assert_eq!(call.await.unwrap(), Err(ErrorCode::ConnectionLoss));
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);

    // 3. An undecodable body fails that request only; a garbage
    // notification drops the connection.
    let (mut s, _) = accept_session(&l, response(30000, Some(false))).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.get_data("/x", false).await });
    let (h, _) = read_request(&mut s).await;
    write_raw(&mut s, &reply(h.xid, 44, 0, &[0, 0, 0, 9, 1])).await;
    assert_eq!(call.await.unwrap(), Err(ErrorCode::MarshallingError));
    assert_eq!(c.state(), State::Connected);
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.get_children("/x", false).await });
    let (h, _) = read_request(&mut s).await;
    assert_eq!(h.op_type, op::GET_CHILDREN2);
    // Server error codes come through; unknown ones become SystemError.
    write_raw(&mut s, &reply(h.xid, 44, -101, &[])).await;
    assert_eq!(call.await.unwrap(), Err(ErrorCode::NoNode));
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.sync("/x").await });
    let (h, _) = read_request(&mut s).await;
    write_raw(&mut s, &reply(h.xid, 44, -9999, &[])).await;
    assert_eq!(call.await.unwrap(), Err(ErrorCode::SystemError));
    write_raw(&mut s, &reply(xid::NOTIFICATION, -1, 0, &[0, 0])).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);

    // 4. Connection dropped mid-frame.
    let (mut s, _) = accept_session(&l, response(30000, Some(false))).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    write_raw(&mut s, &[0, 0, 0, 20, 1, 2]).await;
    drop(s);
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);
    drop(l);
    c.close().await.unwrap();
    assert_eq!(next_event(&mut ev).await.state, kstate::CLOSED);
}

#[tokio::test]
async fn pings_and_read_timeout() {
    let (l, addr) = listener().await;
    let (c, mut ev) = Client::new(&addr, ClientOptions::default()).unwrap();
    // The server negotiates 600 ms: ping after ~200 ms idle, dead after ~400 ms.
    let (mut s, _) = accept_session(&l, response(600, Some(false))).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    for _ in 0..3 {
        let (h, body) = read_request(&mut s).await;
        assert_eq!((h.xid, h.op_type), (xid::PING, op::PING));
        assert!(body.is_empty());
        write_raw(&mut s, &reply(xid::PING, 5, 0, &[])).await;
    }
    assert_eq!(c.last_zxid(), 0, "ping replies do not carry the zxid");
    assert_eq!(c.state(), State::Connected);
    // Stop answering.
    let started = std::time::Instant::now();
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(s);
}

#[tokio::test]
async fn expired_at_handshake() {
    let (l, addr) = listener().await;
    let opts = ClientOptions {
        session_id: Some((77, vec![9; 16])),
        ..Default::default()
    };
    let (c, mut ev) = Client::new(&addr, opts).unwrap();
    let (_s, req) = accept_session(&l, response(0, Some(false))).await;
    assert_eq!((req.session_id, req.passwd), (77, Some(vec![9; 16])));
    assert_eq!(next_event(&mut ev).await.state, kstate::EXPIRED);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.exists("/", false).await, Err(ErrorCode::SessionExpired));
    assert!(ev.recv().await.is_none());
}

#[tokio::test]
async fn auth_is_replayed_and_auth_failure_is_final() {
    let (l, addr) = listener().await;
    let (c, mut ev) = Client::new(&addr, ClientOptions::default()).unwrap();
    let (mut s, _) = accept_session(&l, response(30000, Some(false))).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.add_auth("digest", b"u:p").await });
    let (h, body) = read_request(&mut s).await;
    assert_eq!((h.xid, h.op_type), (xid::AUTH, op::AUTH));
    let pkt = AuthPacket::from_bytes(&body).unwrap();
    assert_eq!((pkt.auth_type, pkt.scheme.as_str()), (0, "digest"));
    assert_eq!(pkt.auth.as_deref(), Some(&b"u:p"[..]));
    write_raw(&mut s, &reply(xid::AUTH, 0, 0, &[])).await;
    call.await.unwrap().unwrap();
    // Watches set before a reconnect are re-registered after the auths.
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.get_data("/w", true).await });
    let (h, _) = read_request(&mut s).await;
    let mut w = Writer::new();
    w.write_buffer(Some(b"d"));
    Stat::default().write(&mut w);
    write_raw(&mut s, &reply(h.xid, 9, 0, &w.into_inner())).await;
    call.await.unwrap().unwrap();
    drop(s);
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);

    let (mut s, _) = accept_session(&l, response(30000, Some(false))).await;
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    let (h, body) = read_request(&mut s).await;
    assert_eq!((h.xid, h.op_type), (xid::AUTH, op::AUTH));
    assert_eq!(AuthPacket::from_bytes(&body).unwrap().scheme, "digest");
    let (h, body) = read_request(&mut s).await;
    assert_eq!((h.xid, h.op_type), (xid::SET_WATCHES, op::SET_WATCHES));
    let sw = zkproto::records::SetWatches::from_bytes(&body).unwrap();
    assert_eq!(sw.relative_zxid, 9);
    assert_eq!(sw.data_watches, ["/w"]);
    write_raw(&mut s, &reply(xid::AUTH, 0, 0, &[])).await;
    write_raw(&mut s, &reply(xid::SET_WATCHES, 9, 0, &[])).await;

    // A rejected auth: AuthFailed, and the handle is dead.
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.add_auth("bad", b"").await });
    let (h, _) = read_request(&mut s).await;
    assert_eq!(h.xid, xid::AUTH);
    write_raw(
        &mut s,
        &reply(xid::AUTH, 0, ErrorCode::AuthFailed.code(), &[]),
    )
    .await;
    assert_eq!(call.await.unwrap(), Err(ErrorCode::AuthFailed));
    assert_eq!(next_event(&mut ev).await.state, kstate::AUTH_FAILED);
    assert_eq!(c.state(), State::AuthFailed);
    assert_eq!(c.get_data("/", false).await, Err(ErrorCode::AuthFailed));
    assert!(ev.recv().await.is_none());
}
