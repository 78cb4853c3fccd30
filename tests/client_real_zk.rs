//! Integration tests of `zkcli::client` against a live server: Apache
//! ZooKeeper by default, ours with `ZK_TEST_SERVER=ours`, or both (see
//! `tests/common/mod.rs`). Every test works under its own root znode
//! `/client_test_<name>` on a server shared by the whole binary.

mod common;

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use zkcli::client::{first_error, Acl, Client, ClientOptions, State, WatchedEvent};
use zkproto::consts::{add_watch_mode, event, perms, state as kstate, watcher_type, CreateMode};
use zkproto::multi::{MultiOp, MultiResult};
use zkproto::records::{
    CheckVersionRequest, CreateTtlRequest, DeleteRequest, PathRequest, SetDataRequest,
};
use zkproto::{op, ErrorCode};

use common::{Proxy, ZkServer};

/// How long to wait for an expected event.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// Runs `body` against every server under test (none: skipped loudly).
macro_rules! zk_test {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for server in common::servers_under_test() {
                eprintln!(
                    "[{}] against {} server",
                    stringify!($name),
                    server.kind().name()
                );
                let t = Ctx::new(server, stringify!($name)).await;
                $body(t).await;
            }
        }
    };
}

/// One test's view of a server: its root path and a helper client.
struct Ctx {
    server: &'static ZkServer,
    root: String,
    /// A second session, used to make changes that fire watches.
    admin: Client,
    _admin_events: UnboundedReceiver<WatchedEvent>,
}

impl Ctx {
    async fn new(server: &'static ZkServer, name: &str) -> Ctx {
        let (admin, ev) = connect(&server.addr()).await;
        let root = format!("/client_test_{name}");
        admin
            .create(
                &root,
                None,
                &Acl::open_unsafe(),
                CreateMode::Persistent,
                None,
            )
            .await
            .expect("creating the test root");
        Ctx {
            server,
            root,
            admin,
            _admin_events: ev,
        }
    }

    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    async fn client(&self) -> (Client, UnboundedReceiver<WatchedEvent>) {
        connect(&self.server.addr()).await
    }
}

/// Connects and consumes the initial SyncConnected event.
async fn connect(connect_string: &str) -> (Client, UnboundedReceiver<WatchedEvent>) {
    connect_with(connect_string, ClientOptions::default()).await
}

async fn connect_with(
    connect_string: &str,
    opts: ClientOptions,
) -> (Client, UnboundedReceiver<WatchedEvent>) {
    let (c, mut ev) = Client::new(connect_string, opts).expect("Client::new");
    c.wait_connected(Duration::from_secs(20))
        .await
        .expect("connecting");
    let first = next_event(&mut ev).await;
    assert_eq!(first.state, kstate::SYNC_CONNECTED, "{first}");
    assert_eq!(first.event_type, event::NONE);
    (c, ev)
}

async fn next_event(ev: &mut UnboundedReceiver<WatchedEvent>) -> WatchedEvent {
    tokio::time::timeout(EVENT_WAIT, ev.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("event channel closed")
}

/// Asserts that no event arrives within `d`.
async fn no_event(ev: &mut UnboundedReceiver<WatchedEvent>, d: Duration) {
    if let Ok(Some(e)) = tokio::time::timeout(d, ev.recv()).await {
        panic!("unexpected event: {e}");
    }
}

fn node_event(event_type: i32, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type,
        state: kstate::SYNC_CONNECTED,
        path: Some(path.to_string()),
        zxid: -1,
    }
}

/// Compares ignoring the zxid (-1 from 3.8 servers, the txn's from 3.9).
fn assert_event(got: &WatchedEvent, want: &WatchedEvent) {
    let mut got = got.clone();
    got.zxid = -1;
    assert_eq!(&got, want);
}

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

async fn mk(c: &Client, path: &str, data: &[u8]) {
    c.create(path, Some(data), &open(), CreateMode::Persistent, None)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e:?}"));
}

// ---------------------------------------------------------------------------

async fn crud_and_stat(t: Ctx) {
    let (c, _ev) = t.client().await;
    let p = t.path("node");
    let (created, st) = c
        .create(&p, Some(b"hello"), &open(), CreateMode::Persistent, None)
        .await
        .unwrap();
    assert_eq!(created, p);
    assert!(st.czxid > 0);
    assert_eq!((st.mzxid, st.pzxid), (st.czxid, st.czxid));
    assert_eq!((st.version, st.cversion, st.aversion), (0, 0, 0));
    assert_eq!(
        (st.ephemeral_owner, st.data_length, st.num_children),
        (0, 5, 0)
    );
    assert!(st.ctime > 0 && st.ctime == st.mtime);
    assert!(c.last_zxid() >= st.czxid);

    let (data, st2) = c.get_data(&p, false).await.unwrap();
    assert_eq!(data.as_deref(), Some(&b"hello"[..]));
    assert_eq!(st2, st);
    assert_eq!(c.exists(&p, false).await.unwrap(), Some(st.clone()));

    let st3 = c.set_data(&p, Some(b"bye"), 0).await.unwrap();
    assert_eq!((st3.version, st3.data_length), (1, 3));
    assert!(st3.mzxid > st.mzxid);
    assert_eq!(st3.czxid, st.czxid);
    assert_eq!(
        c.set_data(&p, Some(b"x"), 0).await,
        Err(ErrorCode::BadVersion)
    );

    mk(&c, &t.path("node/a"), b"").await;
    mk(&c, &t.path("node/b"), b"").await;
    let (mut kids, pst) = c.get_children(&p, false).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "b"]);
    assert_eq!((pst.num_children, pst.cversion), (2, 2));
    assert_eq!(c.get_all_children_number(&t.root).await.unwrap(), 3);
    assert_eq!(c.delete(&p, -1).await, Err(ErrorCode::NotEmpty));
    c.delete(&t.path("node/a"), 0).await.unwrap();
    let pst = c.exists(&p, false).await.unwrap().unwrap();
    assert_eq!(
        (pst.num_children, pst.cversion),
        (1, 3),
        "a delete bumps the visible cversion"
    );
    assert_eq!(
        c.delete(&t.path("node/b"), 5).await,
        Err(ErrorCode::BadVersion)
    );
    c.delete(&t.path("node/b"), -1).await.unwrap();
    c.delete(&p, 1).await.unwrap();
    assert_eq!(c.exists(&p, false).await.unwrap(), None);
    assert_eq!(c.get_data(&p, false).await, Err(ErrorCode::NoNode));
    assert_eq!(c.get_children(&p, false).await, Err(ErrorCode::NoNode));
    assert_eq!(c.delete(&p, -1).await, Err(ErrorCode::NoNode));

    // Errors from the server and from argument checks.
    assert_eq!(
        c.create(&t.root, None, &open(), CreateMode::Persistent, None)
            .await,
        Err(ErrorCode::NodeExists)
    );
    assert_eq!(
        c.create(
            &t.path("no/parent"),
            None,
            &open(),
            CreateMode::Persistent,
            None
        )
        .await,
        Err(ErrorCode::NoNode)
    );
    assert_eq!(c.get_data("bad", false).await, Err(ErrorCode::BadArguments));
    assert_eq!(c.exists("/a//b", false).await, Err(ErrorCode::BadArguments));
    assert_eq!(
        c.create(&t.path("x"), None, &[], CreateMode::Persistent, None)
            .await,
        Err(ErrorCode::InvalidAcl)
    );

    let (acl, _) = c.get_acl(&t.root).await.unwrap();
    assert_eq!(acl, open());
    let st = c.set_acl(&t.root, &open(), 0).await.unwrap();
    assert_eq!(st.aversion, 1);
    assert_eq!(
        c.set_acl(&t.root, &open(), 0).await,
        Err(ErrorCode::BadVersion)
    );
    assert_eq!(c.sync(&t.root).await.unwrap(), t.root);
    c.close().await.unwrap();
}
zk_test!(client_crud_and_stat, crud_and_stat);

async fn null_vs_empty_data(t: Ctx) {
    let (c, _ev) = t.client().await;
    let (n, e) = (t.path("null"), t.path("empty"));
    c.create(&n, None, &open(), CreateMode::Persistent, None)
        .await
        .unwrap();
    c.create(&e, Some(b""), &open(), CreateMode::Persistent, None)
        .await
        .unwrap();
    assert_eq!(c.get_data(&n, false).await.unwrap().0, None);
    assert_eq!(c.get_data(&e, false).await.unwrap().0, Some(vec![]));
    c.set_data(&e, None, -1).await.unwrap();
    assert_eq!(c.get_data(&e, false).await.unwrap().0, None);
    c.set_data(&n, Some(b""), -1).await.unwrap();
    assert_eq!(c.get_data(&n, false).await.unwrap().0, Some(vec![]));
    // A 500 KB value round-trips.
    let big = vec![7u8; 500 * 1024];
    c.set_data(&n, Some(&big), -1).await.unwrap();
    assert_eq!(c.get_data(&n, false).await.unwrap().0, Some(big));
}
zk_test!(client_null_vs_empty_data, null_vs_empty_data);

async fn node_modes(t: Ctx) {
    let (c, _ev) = t.client().await;
    let (s_prefix, acl) = (t.path("s-"), open());
    let seq = |m| c.create(&s_prefix, None, &acl, m, None);
    assert_eq!(
        seq(CreateMode::PersistentSequential).await.unwrap().0,
        t.path("s-0000000000")
    );
    let (eseq, est) = seq(CreateMode::EphemeralSequential).await.unwrap();
    assert_eq!(eseq, t.path("s-0000000001"));
    assert_eq!(est.ephemeral_owner, c.session_id());

    let eph = t.path("eph");
    let (_, st) = c
        .create(&eph, Some(b"e"), &open(), CreateMode::Ephemeral, None)
        .await
        .unwrap();
    assert_eq!(st.ephemeral_owner, c.session_id());
    assert_eq!(
        c.create(
            &t.path("eph/child"),
            None,
            &open(),
            CreateMode::Persistent,
            None
        )
        .await,
        Err(ErrorCode::NoChildrenForEphemerals)
    );
    let mut ephs = c.get_ephemerals(&t.root).await.unwrap();
    ephs.sort();
    assert_eq!(ephs, [eph.clone(), eseq.clone()]);
    assert!(t.admin.get_ephemerals(&t.root).await.unwrap().is_empty());

    let (_, st) = c
        .create(
            &t.path("container"),
            None,
            &open(),
            CreateMode::Container,
            None,
        )
        .await
        .unwrap();
    assert_eq!(st.ephemeral_owner, 0);
    let (ttl_path, st) = c
        .create(
            &t.path("ttl-"),
            None,
            &open(),
            CreateMode::PersistentSequentialWithTtl,
            Some(60_000),
        )
        .await
        .unwrap();
    assert!(ttl_path.starts_with(&t.path("ttl-")));
    assert_eq!(st.ephemeral_owner, 0);
    c.create(
        &t.path("ttl"),
        None,
        &open(),
        CreateMode::PersistentWithTtl,
        Some(60_000),
    )
    .await
    .unwrap();
    for (mode, ttl) in [
        (CreateMode::PersistentWithTtl, None),
        (CreateMode::PersistentWithTtl, Some(0)),
        (CreateMode::Persistent, Some(5)),
    ] {
        assert_eq!(
            c.create(&t.path("bad-ttl"), None, &open(), mode, ttl).await,
            Err(ErrorCode::BadArguments)
        );
    }
}
zk_test!(client_node_modes, node_modes);

async fn exists_watch(t: Ctx) {
    let (c, mut ev) = t.client().await;
    let p = t.path("later");
    assert_eq!(c.exists(&p, true).await.unwrap(), None);
    assert_eq!(c.watches().exist, vec![p.clone()]);
    mk(&t.admin, &p, b"1").await;
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_CREATED, &p),
    );
    assert!(c.watches().exist.is_empty());
    // exists on an existing node sets a data watch.
    assert!(c.exists(&p, true).await.unwrap().is_some());
    assert_eq!(c.watches().data, vec![p.clone()]);
    t.admin.delete(&p, -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DELETED, &p),
    );
    assert_eq!(c.watches(), Default::default());
}
zk_test!(client_exists_watch, exists_watch);

async fn data_watch(t: Ctx) {
    let (c, mut ev) = t.client().await;
    let p = t.path("d");
    mk(&t.admin, &p, b"1").await;
    c.get_data(&p, true).await.unwrap();
    t.admin.set_data(&p, Some(b"2"), -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DATA_CHANGED, &p),
    );
    // One-shot: a second change is not reported.
    t.admin.set_data(&p, Some(b"3"), -1).await.unwrap();
    no_event(&mut ev, Duration::from_millis(300)).await;
    // getData on a missing node registers nothing.
    assert_eq!(
        c.get_data(&t.path("none"), true).await,
        Err(ErrorCode::NoNode)
    );
    assert!(c.watches().data.is_empty());
    c.get_data(&p, true).await.unwrap();
    t.admin.delete(&p, -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DELETED, &p),
    );
    // The watch's own session triggering it: the event precedes the reply.
    mk(&c, &p, b"1").await;
    c.get_data(&p, true).await.unwrap();
    c.set_data(&p, Some(b"4"), -1).await.unwrap();
    assert_event(
        &ev.try_recv().expect("event before reply"),
        &node_event(event::NODE_DATA_CHANGED, &p),
    );
}
zk_test!(client_data_watch, data_watch);

async fn child_watch(t: Ctx) {
    let (c, mut ev) = t.client().await;
    let p = t.path("parent");
    mk(&t.admin, &p, b"").await;
    c.get_children(&p, true).await.unwrap();
    c.get_data(&p, true).await.unwrap();
    mk(&t.admin, &t.path("parent/kid"), b"").await;
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_CHILDREN_CHANGED, &p),
    );
    assert_eq!(c.watches().data, vec![p.clone()]);
    assert!(c.watches().child.is_empty());
    // Deleting a node with data and child watches: one NodeDeleted.
    c.get_children(&p, true).await.unwrap();
    t.admin.delete(&t.path("parent/kid"), -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_CHILDREN_CHANGED, &p),
    );
    c.get_children(&p, true).await.unwrap();
    t.admin.delete(&p, -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DELETED, &p),
    );
    no_event(&mut ev, Duration::from_millis(300)).await;
    assert_eq!(c.watches(), Default::default());
}
zk_test!(client_child_watch, child_watch);

async fn persistent_watches(t: Ctx) {
    let (c, mut ev) = t.client().await;
    let (p, r) = (t.path("p"), t.path("r"));
    c.add_watch(&p, add_watch_mode::PERSISTENT).await.unwrap();
    c.add_watch(&r, add_watch_mode::PERSISTENT_RECURSIVE)
        .await
        .unwrap();
    assert_eq!(c.watches().persistent, vec![p.clone()]);
    assert_eq!(c.watches().persistent_recursive, vec![r.clone()]);
    assert_eq!(c.add_watch(&p, 7).await, Err(ErrorCode::BadArguments));

    mk(&t.admin, &p, b"").await;
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_CREATED, &p),
    );
    t.admin.set_data(&p, Some(b"1"), -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DATA_CHANGED, &p),
    );
    mk(&t.admin, &t.path("p/kid"), b"").await;
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_CHILDREN_CHANGED, &p),
    );
    t.admin.set_data(&p, Some(b"2"), -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DATA_CHANGED, &p),
    );

    mk(&t.admin, &r, b"").await;
    mk(&t.admin, &t.path("r/a"), b"").await;
    mk(&t.admin, &t.path("r/a/b"), b"").await;
    t.admin
        .set_data(&t.path("r/a/b"), Some(b"x"), -1)
        .await
        .unwrap();
    t.admin.delete(&t.path("r/a/b"), -1).await.unwrap();
    for (ty, path) in [
        (event::NODE_CREATED, r.clone()),
        (event::NODE_CREATED, t.path("r/a")),
        (event::NODE_CREATED, t.path("r/a/b")),
        (event::NODE_DATA_CHANGED, t.path("r/a/b")),
        (event::NODE_DELETED, t.path("r/a/b")),
    ] {
        assert_event(&next_event(&mut ev).await, &node_event(ty, &path));
    }
    no_event(&mut ev, Duration::from_millis(300)).await;
    assert_eq!(c.watches().persistent, vec![p.clone()]);
    assert_eq!(c.watches().persistent_recursive, vec![r.clone()]);
}
zk_test!(client_persistent_watches, persistent_watches);

async fn remove_watches(t: Ctx) {
    let (c, mut ev) = t.client().await;
    let p = t.path("w");
    mk(&t.admin, &p, b"").await;
    let removed = |ty| node_event(ty, &p);

    c.get_data(&p, true).await.unwrap();
    c.get_children(&p, true).await.unwrap();
    c.check_watches(&p, watcher_type::DATA).await.unwrap();
    c.check_watches(&p, watcher_type::CHILDREN).await.unwrap();
    c.remove_watches(&p, watcher_type::ANY, false)
        .await
        .unwrap();
    // zkCli's order: DataWatchRemoved, then ChildWatchRemoved.
    assert_event(
        &next_event(&mut ev).await,
        &removed(event::DATA_WATCH_REMOVED),
    );
    assert_event(
        &next_event(&mut ev).await,
        &removed(event::CHILD_WATCH_REMOVED),
    );
    assert_eq!(c.watches(), Default::default());
    assert_eq!(
        c.remove_watches(&p, watcher_type::ANY, false).await,
        Err(ErrorCode::NoWatcher)
    );
    assert_eq!(
        c.check_watches(&p, watcher_type::DATA).await,
        Err(ErrorCode::NoWatcher)
    );

    // Only the requested type goes.
    c.get_children(&p, true).await.unwrap();
    assert_eq!(
        c.remove_watches(&p, watcher_type::DATA, false).await,
        Err(ErrorCode::NoWatcher)
    );
    c.remove_watches(&p, watcher_type::CHILDREN, false)
        .await
        .unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &removed(event::CHILD_WATCH_REMOVED),
    );

    // An exist watch counts as a data watch.
    let missing = t.path("missing");
    c.exists(&missing, true).await.unwrap();
    c.remove_watches(&missing, watcher_type::DATA, true)
        .await
        .unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::DATA_WATCH_REMOVED, &missing),
    );

    // Persistent watches: PersistentWatchRemoved. (3.8 servers know only
    // the Children/Data/Any types, so remove them with Any.)
    c.add_watch(&p, add_watch_mode::PERSISTENT).await.unwrap();
    c.remove_watches(&p, watcher_type::ANY, false)
        .await
        .unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &removed(event::PERSISTENT_WATCH_REMOVED),
    );

    // Removed watches do not fire.
    t.admin.set_data(&p, Some(b"1"), -1).await.unwrap();
    no_event(&mut ev, Duration::from_millis(300)).await;
    assert_eq!(
        c.remove_watches(&p, 9, false).await,
        Err(ErrorCode::BadArguments)
    );
}
zk_test!(client_remove_watches, remove_watches);

fn create_op(path: &str, data: &[u8]) -> MultiOp {
    MultiOp::Create {
        op_type: op::CREATE2,
        req: CreateTtlRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl: 0,
        },
    }
}

fn created_path(r: &MultiResult) -> Option<&str> {
    match r {
        MultiResult::Create(p) | MultiResult::Create2(p, _) => Some(p),
        _ => None,
    }
}

async fn multi(t: Ctx) {
    let (c, _ev) = t.client().await;
    let (a, b) = (t.path("a"), t.path("b"));
    let res = c
        .multi(vec![
            create_op(&a, b"1"),
            create_op(&b, b"2"),
            MultiOp::SetData(SetDataRequest {
                path: a.clone(),
                data: Some(b"3".to_vec()),
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: a.clone(),
                version: 1,
            }),
            MultiOp::Delete(DeleteRequest {
                path: b.clone(),
                version: 0,
            }),
        ])
        .await
        .unwrap();
    assert_eq!(first_error(&res), None);
    // ZooKeeper 3.8 answers a create2 inside multi with a plain create
    // result (path only); later versions may add the Stat.
    assert_eq!(created_path(&res[0]), Some(a.as_str()));
    assert_eq!(created_path(&res[1]), Some(b.as_str()));
    assert!(matches!(&res[2], MultiResult::SetData(s) if s.version == 1));
    assert_eq!(res[3..], [MultiResult::Check, MultiResult::Delete]);
    assert_eq!(c.get_data(&a, false).await.unwrap().0, Some(b"3".to_vec()));

    // A failing op aborts everything.
    let res = c
        .multi(vec![
            create_op(&t.path("c"), b""),
            MultiOp::Check(CheckVersionRequest {
                path: a.clone(),
                version: 0,
            }),
            MultiOp::Delete(DeleteRequest {
                path: a.clone(),
                version: -1,
            }),
        ])
        .await
        .unwrap();
    assert_eq!(
        res,
        [
            MultiResult::Error(0),
            MultiResult::Error(-103),
            MultiResult::Error(-2)
        ]
    );
    assert_eq!(first_error(&res), Some(ErrorCode::BadVersion));
    assert_eq!(c.exists(&t.path("c"), false).await.unwrap(), None);

    let res = c
        .multi_read(vec![
            MultiOp::GetData(PathRequest { path: a.clone() }),
            MultiOp::GetChildren(PathRequest {
                path: t.root.clone(),
            }),
            MultiOp::GetData(PathRequest { path: b.clone() }),
        ])
        .await
        .unwrap();
    assert!(matches!(&res[0], MultiResult::GetData(Some(d), s) if d == b"3" && s.version == 1));
    assert_eq!(res[1], MultiResult::GetChildren(vec!["a".into()]));
    assert_eq!(res[2], MultiResult::Error(ErrorCode::NoNode.code()));
    assert_eq!(
        c.multi_read(vec![create_op(&b, b"")]).await,
        Err(ErrorCode::BadArguments)
    );
}
zk_test!(client_multi, multi);

async fn auth_and_acls(t: Ctx) {
    let (c, _ev) = t.client().await;
    let ids = c.who_am_i().await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        (ids[0].auth_scheme.as_str(), ids[0].user.as_str()),
        ("ip", "127.0.0.1")
    );

    c.add_auth("digest", b"alice:secret").await.unwrap();
    let ids = c.who_am_i().await.unwrap();
    assert!(
        ids.iter()
            .any(|i| i.auth_scheme == "digest" && i.user == "alice"),
        "{ids:?}"
    );

    let p = t.path("private");
    let acl = [Acl::new(perms::ALL, "auth", "")];
    c.create(&p, Some(b"s"), &acl, CreateMode::Persistent, None)
        .await
        .unwrap();
    let (got, _) = c.get_acl(&p).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id.scheme, "digest");
    assert!(got[0].id.id.starts_with("alice:"), "{got:?}");
    assert_eq!(t.admin.get_data(&p, false).await, Err(ErrorCode::NoAuth));
    assert_eq!(t.admin.set_data(&p, None, -1).await, Err(ErrorCode::NoAuth));

    let (other, _ev2) = t.client().await;
    other.add_auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(
        other.get_data(&p, false).await.unwrap().0,
        Some(b"s".to_vec())
    );
    let read_only = [Acl::new(perms::READ, "world", "anyone")];
    assert_eq!(
        c.create(
            &t.path("x"),
            None,
            &[Acl::new(perms::ALL, "digest", "bad")],
            CreateMode::Persistent,
            None
        )
        .await,
        Err(ErrorCode::InvalidAcl)
    );
    let ro = t.path("ro");
    c.create(&ro, None, &read_only, CreateMode::Persistent, None)
        .await
        .unwrap();
    assert_eq!(c.set_data(&ro, None, -1).await, Err(ErrorCode::NoAuth));

    // A rejected auth ends the session.
    let (bad, mut bad_ev) = t.client().await;
    assert_eq!(
        bad.add_auth("nosuchscheme", b"x").await,
        Err(ErrorCode::AuthFailed)
    );
    let e = next_event(&mut bad_ev).await;
    assert_eq!(
        (e.event_type, e.state),
        (event::NONE, kstate::AUTH_FAILED),
        "{e}"
    );
    assert_eq!(bad.state(), State::AuthFailed);
    assert_eq!(bad.exists("/", false).await, Err(ErrorCode::AuthFailed));
    assert!(tokio::time::timeout(EVENT_WAIT, bad_ev.recv())
        .await
        .unwrap()
        .is_none());
    bad.close().await.unwrap();
}
zk_test!(client_auth_and_acls, auth_and_acls);

async fn chroot(t: Ctx) {
    mk(&t.admin, &t.path("ch"), b"").await;
    let chroot = t.path("ch");
    let cs = format!("{}{chroot}", t.server.addr());
    let (c, mut ev) = connect(&cs).await;
    assert_eq!(c.connect_string(), cs);
    assert_eq!(c.chroot().as_deref(), Some(chroot.as_str()));

    let (p, _) = c
        .create("/a", Some(b"1"), &open(), CreateMode::Persistent, None)
        .await
        .unwrap();
    assert_eq!(p, "/a");
    assert!(t
        .admin
        .exists(&format!("{chroot}/a"), false)
        .await
        .unwrap()
        .is_some());
    let (s, _) = c
        .create("/s-", None, &open(), CreateMode::EphemeralSequential, None)
        .await
        .unwrap();
    assert_eq!(s, "/s-0000000001");
    assert_eq!(c.get_ephemerals("/").await.unwrap(), vec![s.clone()]);
    let (mut kids, _) = c.get_children("/", false).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "s-0000000001"]);
    assert_eq!(c.sync("/").await.unwrap(), "/");
    assert!(c.exists("/", false).await.unwrap().is_some());
    assert_eq!(c.delete("/", -1).await, Err(ErrorCode::BadArguments));

    c.get_data("/a", true).await.unwrap();
    c.add_watch("/", add_watch_mode::PERSISTENT_RECURSIVE)
        .await
        .unwrap();
    assert_eq!(c.watches().data, ["/a"]);
    assert_eq!(c.watches().persistent_recursive, ["/"]);
    t.admin
        .set_data(&format!("{chroot}/a"), None, -1)
        .await
        .unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DATA_CHANGED, "/a"),
    );
    c.remove_watches("/", watcher_type::ANY, false)
        .await
        .unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::PERSISTENT_WATCH_REMOVED, "/"),
    );

    let res = c.multi(vec![create_op("/m", b"")]).await.unwrap();
    assert_eq!(created_path(&res[0]), Some("/m"));

    // getConfig ignores the chroot.
    let (cfg, _) = c.get_config(false).await.unwrap();
    let (direct, _) = t.admin.get_data("/zookeeper/config", false).await.unwrap();
    assert_eq!(cfg, direct);
    c.close().await.unwrap();
}
zk_test!(client_chroot, chroot);

async fn close_deletes_ephemerals(t: Ctx) {
    let (c, mut ev) = t.client().await;
    let p = t.path("e");
    c.create(&p, None, &open(), CreateMode::Ephemeral, None)
        .await
        .unwrap();
    let (w, mut wev) = t.client().await;
    assert!(w.exists(&p, true).await.unwrap().is_some());
    c.close().await.unwrap();
    assert_eq!(c.state(), State::Closed);
    let e = next_event(&mut ev).await;
    assert_eq!(
        (e.event_type, e.state, e.path),
        (event::NONE, kstate::CLOSED, None)
    );
    assert!(ev.recv().await.is_none(), "event channel ends after Closed");
    assert_event(
        &next_event(&mut wev).await,
        &node_event(event::NODE_DELETED, &p),
    );
    assert_eq!(c.exists("/", false).await, Err(ErrorCode::SessionExpired));
    c.close().await.unwrap();
    assert_eq!(
        c.wait_connected(Duration::from_millis(10)).await,
        Err(ErrorCode::SessionExpired)
    );
}
zk_test!(client_close_deletes_ephemerals, close_deletes_ephemerals);

async fn expired_session(t: Ctx) {
    let (c, _ev) = t.client().await;
    let creds = (c.session_id(), c.session_password());
    assert_eq!(creds.1.len(), 16);
    c.close().await.unwrap();

    let opts = ClientOptions {
        session_id: Some(creds),
        ..Default::default()
    };
    let (r, mut ev) = Client::new(&t.server.addr(), opts).unwrap();
    let e = next_event(&mut ev).await;
    assert_eq!(
        (e.event_type, e.state),
        (event::NONE, kstate::EXPIRED),
        "{e}"
    );
    assert_eq!(r.state(), State::Closed);
    assert_eq!(
        r.wait_connected(Duration::from_secs(1)).await,
        Err(ErrorCode::SessionExpired)
    );
    assert_eq!(r.get_data("/", false).await, Err(ErrorCode::SessionExpired));
    assert!(ev.recv().await.is_none());
}
zk_test!(client_expired_session, expired_session);

async fn session_resume(t: Ctx) {
    // A reaches the server through a proxy that we pause, so that once the
    // session has moved to B, A cannot steal it back (real ZooKeeper closes
    // the older connection whenever a session reconnects, so two live
    // clients on one session would take turns forever).
    let proxy = Proxy::start(t.server.socket_addr()).await;
    let (a, mut a_ev) = connect(&proxy.addr()).await;
    let p = t.path("eph");
    a.create(&p, None, &open(), CreateMode::Ephemeral, None)
        .await
        .unwrap();
    proxy.set_paused(true);
    let opts = ClientOptions {
        session_id: Some((a.session_id(), a.session_password())),
        ..Default::default()
    };
    let (b, _b_ev) = connect_with(&t.server.addr(), opts).await;
    assert_eq!(b.session_id(), a.session_id());
    assert_eq!(b.get_ephemerals(&t.root).await.unwrap(), vec![p.clone()]);
    let e = next_event(&mut a_ev).await;
    assert_eq!(e.state, kstate::DISCONNECTED, "{e}");
    assert_eq!(a.get_data(&p, false).await, Err(ErrorCode::ConnectionLoss));
    // Closing the session through B ends it for A too.
    b.close().await.unwrap();
    assert_eq!(t.admin.exists(&p, false).await.unwrap(), None);
    proxy.set_paused(false);
    let e = next_event(&mut a_ev).await;
    assert_eq!(e.state, kstate::EXPIRED, "{e}");
    assert_eq!(a.state(), State::Closed);
}
zk_test!(client_session_resume, session_resume);

async fn reconnect_through_proxy(t: Ctx) {
    let proxy = Proxy::start(t.server.socket_addr()).await;
    let (c, mut ev) = connect(&proxy.addr()).await;
    let sid = c.session_id();
    let (d, eph, kids, rec) = (t.path("d"), t.path("eph"), t.path("kids"), t.path("rec"));
    mk(&c, &d, b"0").await;
    mk(&c, &kids, b"").await;
    c.create(&eph, None, &open(), CreateMode::Ephemeral, None)
        .await
        .unwrap();
    c.get_data(&d, true).await.unwrap();
    c.get_children(&kids, true).await.unwrap();
    c.exists(&t.path("later"), true).await.unwrap();
    c.add_watch(&rec, add_watch_mode::PERSISTENT_RECURSIVE)
        .await
        .unwrap();

    // 1. Cut the connection: Disconnected, then the session resumes.
    proxy.sever();
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    assert_eq!(c.session_id(), sid);
    assert!(c.connected_host().is_some());
    // The watches were re-registered (SetWatches2, as a persistent one exists).
    t.admin.set_data(&d, Some(b"1"), -1).await.unwrap();
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_DATA_CHANGED, &d),
    );

    // 2. Changes made while disconnected are reported after reconnecting
    // (SetWatches with relativeZxid), and requests fail meanwhile.
    c.get_data(&d, true).await.unwrap();
    proxy.set_paused(true);
    proxy.sever();
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);
    assert_ne!(c.state(), State::Connected);
    assert_eq!(c.get_data(&d, false).await, Err(ErrorCode::ConnectionLoss));
    t.admin.set_data(&d, Some(b"2"), -1).await.unwrap();
    mk(&t.admin, &t.path("kids/k"), b"").await;
    mk(&t.admin, &t.path("later"), b"").await;
    mk(&t.admin, &rec, b"").await; // persistent watches get no catch-up event
    proxy.set_paused(false);
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut ev).await;
        got.push((e.event_type, e.path.unwrap_or_default()));
    }
    got.sort();
    assert_eq!(
        got,
        [
            (event::NODE_CREATED, t.path("later")),
            (event::NODE_DATA_CHANGED, d.clone()),
            (event::NODE_CHILDREN_CHANGED, kids.clone()),
        ]
    );
    assert_eq!(c.session_id(), sid);
    assert!(
        t.admin.exists(&eph, false).await.unwrap().is_some(),
        "ephemeral survives"
    );
    mk(&t.admin, &t.path("rec/x"), b"").await;
    assert_event(
        &next_event(&mut ev).await,
        &node_event(event::NODE_CREATED, &t.path("rec/x")),
    );
    c.close().await.unwrap();
}
zk_test!(client_reconnect_through_proxy, reconnect_through_proxy);

async fn pings_keep_session(t: Ctx) {
    let opts = ClientOptions {
        session_timeout_ms: 4000,
        ..Default::default()
    };
    let (c, mut ev) = connect_with(&t.server.addr(), opts).await;
    assert_eq!(c.negotiated_timeout_ms(), 4000);
    // Idle for longer than the read timeout (2/3 of 4 s): only pings keep
    // the connection and the session alive.
    no_event(&mut ev, Duration::from_millis(4500)).await;
    assert_eq!(c.state(), State::Connected);
    c.exists("/", false).await.unwrap();
}
zk_test!(client_pings_keep_session, pings_keep_session);

async fn config_and_reconfig(t: Ctx) {
    let (c, _ev) = t.client().await;
    c.get_config(true).await.unwrap();
    assert_eq!(c.watches().data, ["/zookeeper/config"]);
    // Standalone servers refuse reconfig.
    assert!(c
        .reconfig("", "", "server.1=127.0.0.1:2888:3888;2181", -1)
        .await
        .is_err());
}
zk_test!(client_config_and_reconfig, config_and_reconfig);

async fn queued_before_connect(t: Ctx) {
    // Requests issued right away are sent once the session is established.
    let (c, mut ev) = Client::new(&t.server.addr(), ClientOptions::default()).unwrap();
    let (q, acl) = (t.path("q"), open());
    let (a, b) = tokio::join!(
        c.create(&q, Some(b"1"), &acl, CreateMode::Persistent, None),
        c.get_data(&t.root, false)
    );
    assert_eq!(a.unwrap().0, t.path("q"));
    assert!(b.is_ok());
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    // A clone shares the session.
    let c2 = c.clone();
    assert_eq!(
        c2.get_data(&t.path("q"), false).await.unwrap().0,
        Some(b"1".to_vec())
    );
    c.close().await.unwrap();
}
zk_test!(client_queued_before_connect, queued_before_connect);

async fn partition_detected(t: Ctx) {
    let proxy = Proxy::start(t.server.socket_addr()).await;
    let opts = ClientOptions {
        session_timeout_ms: 4000,
        ..Default::default()
    };
    let (c, mut ev) = connect_with(&proxy.addr(), opts).await;
    let sid = c.session_id();
    proxy.set_frozen(true);
    let started = std::time::Instant::now();
    // Nothing arrives any more: after 2/3 of the session timeout without
    // hearing from the server, the in-flight request fails.
    assert_eq!(c.exists("/", false).await, Err(ErrorCode::ConnectionLoss));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(3500),
        "loss detected after {waited:?}"
    );
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);
    proxy.set_frozen(false);
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    assert_eq!(c.session_id(), sid);
    c.close().await.unwrap();
}
zk_test!(client_partition_detected, partition_detected);

async fn request_timeout(t: Ctx) {
    let proxy = Proxy::start(t.server.socket_addr()).await;
    let opts = ClientOptions {
        request_timeout_ms: Some(300),
        ..Default::default()
    };
    let (c, mut ev) = connect_with(&proxy.addr(), opts).await;
    proxy.set_frozen(true);
    assert_eq!(c.exists("/", false).await, Err(ErrorCode::RequestTimeout));
    // As in Java, a timed-out request drops the connection.
    assert_eq!(next_event(&mut ev).await.state, kstate::DISCONNECTED);
    proxy.set_frozen(false);
    assert_eq!(next_event(&mut ev).await.state, kstate::SYNC_CONNECTED);
    c.exists("/", false).await.unwrap();
    c.close().await.unwrap();
}
zk_test!(client_request_timeout, request_timeout);

/// No server needed: a dead address never connects.
#[tokio::test]
async fn client_unreachable_server() {
    let port = common::free_port();
    let (c, mut ev) = Client::new(&format!("127.0.0.1:{port}"), ClientOptions::default()).unwrap();
    assert_eq!(
        c.wait_connected(Duration::from_millis(300)).await,
        Err(ErrorCode::ConnectionLoss)
    );
    assert_eq!(c.state(), State::Connecting);
    assert_eq!(c.session_id(), 0);
    assert_eq!(c.exists("/", false).await, Err(ErrorCode::ConnectionLoss));
    c.close().await.unwrap();
    assert_eq!(c.state(), State::Closed);
    assert_eq!(next_event(&mut ev).await.state, kstate::CLOSED);
    assert!(Client::new("127.0.0.1:x", ClientOptions::default()).is_err());
}
