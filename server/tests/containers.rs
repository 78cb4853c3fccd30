//! Containers and TTL nodes are removed by the server's periodic check
//! (ZooKeeper's ContainerManager), through deleteContainer transactions.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Server};
use zkproto::consts::op;
use zkproto::jute::Jute;
use zkproto::records::{Acl, CreateTtlRequest};

fn wait_gone(c: &mut Client, path: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if c.exists(path, false) == Err(-101) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn create_ttl(c: &mut Client, path: &str, ttl: i64) -> i32 {
    let body = CreateTtlRequest {
        path: path.into(),
        data: Some(b"t".to_vec()),
        acl: Acl::open_unsafe(),
        flags: 5,
        ttl,
    }
    .to_bytes();
    c.request(op::CREATE_TTL, &body)
        .expect("createTTL i/o")
        .0
        .err
}

fn create_container(c: &mut Client, path: &str) -> i32 {
    let body = zkproto::records::CreateRequest {
        path: path.into(),
        data: Some(Vec::new()),
        acl: Acl::open_unsafe(),
        flags: 4,
    }
    .to_bytes();
    c.request(op::CREATE_CONTAINER, &body)
        .expect("createContainer i/o")
        .0
        .err
}

#[test]
fn empty_container_that_had_a_child_is_removed() {
    let server = Server::start("znode.container.checkIntervalMs=200\n");
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(create_container(&mut c, "/never-used"), 0);
    assert_eq!(create_container(&mut c, "/used"), 0);
    assert_eq!(c.exists("/used", false).map(|s| s.ephemeral_owner), Ok(0));
    c.create("/used/child", b"", 0).expect("child");
    // Not removed while it has a child.
    std::thread::sleep(Duration::from_millis(600));
    assert!(c.exists("/used", false).is_ok());
    let body = zkproto::records::DeleteRequest {
        path: "/used/child".into(),
        version: -1,
    }
    .to_bytes();
    assert_eq!(c.request(op::DELETE, &body).expect("delete").0.err, 0);
    assert!(
        wait_gone(&mut c, "/used", Duration::from_secs(5)),
        "container not removed"
    );
    // A container that never had a child stays (ZooKeeper ≤ 3.9 default).
    assert!(c.exists("/never-used", false).is_ok());
}

#[test]
fn ttl_node_expires_and_set_data_resets_the_clock() {
    let server = Server::start("znode.container.checkIntervalMs=200\nextendedTypesEnabled=true\n");
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(create_ttl(&mut c, "/ttl", 1500), 0);
    assert_eq!(c.exists("/ttl", false).map(|s| s.ephemeral_owner), Ok(0));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    c.set_data("/ttl", b"again").expect("set");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        c.exists("/ttl", false).is_ok(),
        "expired although touched {:?} ago",
        t0.elapsed()
    );
    assert!(
        wait_gone(&mut c, "/ttl", Duration::from_secs(5)),
        "TTL node not removed"
    );
}

#[test]
fn ttl_needs_extended_types() {
    let server = Server::start("");
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(
        create_ttl(&mut c, "/ttl", 1000),
        -6,
        "UNIMPLEMENTED without extendedTypesEnabled"
    );
    let server = Server::start("extendedTypesEnabled=true\n");
    let mut c = Client::connect(server.port).expect("connect");
    assert_eq!(create_ttl(&mut c, "/ttl", 0), -8, "ttl 0 is BADARGUMENTS");
    assert_eq!(
        create_ttl(&mut c, "/ttl", 1 << 40),
        -8,
        "ttl over 2^40-1 is BADARGUMENTS"
    );
}
