//! FOLLOWING / OBSERVING: the thin driver around [`Learner`]. It connects
//! to the elected leader's quorum port, feeds the core packets (a SNAP's
//! tree is installed in the pipeline before the packet is handed over),
//! ticks, forwarded client requests and the log's durability notices, and
//! executes the core's outputs in order.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::transport::{Link, LinkEvent};
use super::{Common, Ctx, RoleEnd};
use crate::pipeline::role::{Mode, PeerEvent, PeerMsg, QuorumStats};
use crate::quorum::types::{packet, LearnerType, QuorumPacket, Sid};
use crate::quorum::wire::payload::encode_touches;
use crate::quorum::zab::{Learner, LearnerConfig, Output};

/// Java's `Learner.connectToLeader`: a few attempts, a second apart.
const CONNECT_ATTEMPTS: u32 = 5;

pub(super) async fn follow(ctx: &mut Ctx, leader_sid: Sid) -> RoleEnd {
    let started = Instant::now();
    // Dialled us while we looked, but we are not the leader.
    ctx.early.clear();
    let observer = ctx.q.my_type == LearnerType::Observer;
    let mode = if observer {
        Mode::Observer
    } else {
        Mode::Follower
    };
    let Some(addr) = ctx.q.quorum_socket(leader_sid) else {
        return RoleEnd::Abandoned(format!(
            "server.{leader_sid} has no resolvable quorum address"
        ));
    };
    let timeout = ctx.q.tick() * ctx.q.init_limit.max(1);
    let mut stream = None;
    for attempt in 1..=CONNECT_ATTEMPTS {
        let dial = tokio::spawn(dial_leader(addr, ctx.q.bind_ip(), timeout));
        // Java's WorkerReceiver keeps answering LOOKING peers while the
        // learner dials; so does this loop.
        let r = match answer_while(ctx, dial).await {
            Some(r) => r,
            None => return RoleEnd::Shutdown,
        };
        match r {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => {
                info!("connecting to leader {leader_sid} at {addr} (attempt {attempt}): {e}");
            }
            Err(_) => return RoleEnd::Shutdown,
        }
        if answer_while(ctx, tokio::time::sleep(Duration::from_secs(1)))
            .await
            .is_none()
        {
            return RoleEnd::Shutdown;
        }
    }
    let Some(stream) = stream else {
        return RoleEnd::Abandoned(format!("leader {leader_sid} at {addr} does not answer"));
    };
    let Some(state) = ctx.member_state().await else {
        return RoleEnd::Shutdown;
    };
    let (accepted_epoch, current_epoch) = ctx.epochs(state.last_logged());
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let link = match Link::start(
        1,
        stream,
        ev_tx,
        true,
        ctx.cfg.extended_types,
        ctx.read_timeout(),
    ) {
        Ok(l) => l,
        Err(e) => return RoleEnd::Abandoned(format!("leader connection: {e}")),
    };
    let mut learner = Learner::new(LearnerConfig {
        me: ctx.q.my_id,
        kind: ctx.q.my_type,
        conn: 1,
        accepted_epoch,
        current_epoch,
        last_committed: state.last_zxid,
        tail: state.tail.clone(),
        limits: ctx.limits(),
    });
    learner.connected();
    let state_name = if observer { "observing" } else { "following" };
    ctx.to_core(PeerEvent::Stats(QuorumStats {
        peer_state: format!("{state_name} - synchronization"),
        quorum_size: ctx.q.voters().len(),
        ..Default::default()
    }))
    .await;
    info!(
        "{}: connected to leader {leader_sid} at {addr}, last zxid 0x{:x}",
        if observer { "OBSERVING" } else { "FOLLOWING" },
        state.last_zxid
    );
    // Sessions our clients touched since the last PING reply.
    let mut touches: BTreeMap<i64, i32> = BTreeMap::new();
    let mut tick = tokio::time::interval(ctx.half_tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sync_kind: Option<i32> = None;
    // Txns applied by the sync, for the log line at UPTODATE.
    let mut synced_txns = 0usize;
    let mut serving = false;
    loop {
        tokio::select! {
            ev = ev_rx.recv() => match ev {
                Some(LinkEvent::Packet(_, pkt)) => {
                    if let Some(why) = membership_change(&ctx.q.servers, &pkt, learner.is_serving()) {
                        tracing::error!("{why}");
                        return RoleEnd::Abandoned(why);
                    }
                    if sync_kind.is_none() && matches!(pkt.kind, packet::DIFF | packet::TRUNC) {
                        sync_kind = Some(pkt.kind);
                        if pkt.kind == packet::TRUNC && pkt.zxid < learner.last_committed() {
                            // Everything on disk was replayed at start, so a
                            // txn the new leader never committed may have
                            // been applied: cut the log, reload the tree
                            // from disk and sync again (Java reloads too).
                            return truncate_and_reload(ctx, pkt.zxid).await;
                        }
                    }
                    learner.receive(pkt);
                }
                Some(LinkEvent::Snap { pkt, loaded, .. }) => match *loaded {
                    Ok((tree, sessions)) => {
                        sync_kind = Some(packet::SNAP);
                        let (tx, rx) = oneshot::channel();
                        ctx.to_core(PeerEvent::InstallSnapshot {
                            tree: Box::new(tree),
                            sessions,
                            done: tx,
                        })
                        .await;
                        match rx.await {
                            Ok(Ok(())) => learner.receive(pkt),
                            Ok(Err(e)) => return RoleEnd::Abandoned(format!("installing SNAP: {e}")),
                            Err(_) => return RoleEnd::Shutdown,
                        }
                    }
                    Err(e) => return RoleEnd::Abandoned(format!("reading SNAP from the leader: {e}")),
                },
                Some(LinkEvent::Closed(_, why)) => {
                    learner.disconnected();
                    return RoleEnd::Abandoned(format!("connection to leader {leader_sid} lost: {why}"));
                }
                None => return RoleEnd::Shutdown,
            },
            m = ctx.from_core.recv() => match m {
                Some(PeerMsg::Forward(pkt)) => {
                    if !learner.forward(pkt) {
                        warn!("dropping a forwarded request: not connected to a leader");
                    }
                }
                Some(PeerMsg::Persisted(z)) => learner.persisted(z),
                Some(PeerMsg::Touches(t)) => touches.extend(t),
                Some(PeerMsg::Fail(why)) => return RoleEnd::Abandoned(why),
                Some(PeerMsg::Propose { .. }) => {}
                None => return RoleEnd::Shutdown,
            },
            n = ctx.election_rx.recv() => match n {
                Some((from, bytes)) => ctx.election_input(from, &bytes),
                None => return RoleEnd::Shutdown,
            },
            s = ctx.accepted.recv() => {
                // Only a leader takes learners (Java has no listener here).
                let Some(s) = s else { return RoleEnd::Shutdown };
                let from = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                info!("closing a quorum connection from {from}: not leading");
            }
            _ = tick.tick() => {
                learner.tick();
                ctx.election_tick();
            }
        }
        for out in learner.take_outputs() {
            if matches!(out, Output::Commit { .. }) && !serving {
                synced_txns += 1;
            }
            let out = match ctx.execute_common(out).await {
                Common::Done => continue,
                Common::End(end) => return end,
                Common::Other(o) => o,
            };
            match out {
                Output::Send { pkt, .. } => link.send(&pkt),
                Output::AnswerPing { zxid } => {
                    let t: Vec<(i64, i32)> = std::mem::take(&mut touches).into_iter().collect();
                    link.send(&QuorumPacket::with_data(
                        packet::PING,
                        zxid,
                        encode_touches(&t),
                    ));
                }
                Output::StartServing => {
                    serving = true;
                    info!(
                        "{}: synced with leader {leader_sid} by {} ({synced_txns} txns) in {} ms (epoch {}); serving",
                        mode.name(),
                        match sync_kind {
                            Some(packet::SNAP) => "SNAP",
                            Some(packet::TRUNC) => "TRUNC",
                            _ => "DIFF",
                        },
                        started.elapsed().as_millis(),
                        learner.current_epoch()
                    );
                    ctx.to_core(PeerEvent::Stats(QuorumStats {
                        peer_state: format!("{state_name} - broadcast"),
                        quorum_size: ctx.q.voters().len(),
                        ..Default::default()
                    }))
                    .await;
                    ctx.to_core(PeerEvent::Serving {
                        mode,
                        epoch: learner.current_epoch(),
                    })
                    .await;
                }
                Output::SyncDone => ctx.to_core(PeerEvent::SyncDone).await,
                Output::Forwarded { pkt, .. } if pkt.kind == packet::REVALIDATE => {
                    match crate::quorum::wire::payload::decode_revalidate_reply(pkt.data.as_deref())
                    {
                        Ok((session, valid)) => {
                            ctx.to_core(PeerEvent::Revalidated { session, valid }).await
                        }
                        Err(e) => info!("ignoring a malformed REVALIDATE reply: {e}"),
                    }
                }
                // Leader-only, or executed by execute_common.
                _ => {}
            }
        }
    }
}

/// TRUNC below the applied zxid: truncate the log, wait until it is done,
/// reload the state from disk, then leave the role so the next sync starts
/// from what is really committed.
async fn truncate_and_reload(ctx: &mut Ctx, zxid: crate::quorum::types::Zxid) -> RoleEnd {
    info!("leader asked to truncate to 0x{zxid:x}, below what was applied: reloading from disk");
    ctx.to_core(PeerEvent::Truncate(zxid)).await;
    let (tx, rx) = oneshot::channel();
    ctx.to_core(PeerEvent::LogBarrier { done: tx }).await;
    if rx.await.is_err() {
        return RoleEnd::Shutdown;
    }
    let (tx, rx) = oneshot::channel();
    ctx.to_core(PeerEvent::Reload { done: tx }).await;
    match rx.await {
        Ok(Ok(z)) => RoleEnd::Abandoned(format!("truncated to 0x{zxid:x}, reloaded at 0x{z:x}")),
        Ok(Err(e)) => RoleEnd::Abandoned(format!("reloading after TRUNC: {e}")),
        Err(_) => RoleEnd::Shutdown,
    }
}

/// Waits for `fut` while answering election notifications (and closing
/// quorum connections nobody should make to a learner). `None` when the
/// server is stopping.
/// Connects to the leader's quorum port from our own `server.N` address
/// when it is an IP (as the election port does), so that each member's
/// traffic leaves from its own address: firewall rules between members'
/// addresses then cut exactly what they say (the chaos harness's
/// partitions). The stream is handed to the blocking link threads.
async fn dial_leader(
    addr: std::net::SocketAddr,
    bind: Option<std::net::IpAddr>,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(ip) = bind.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let std = stream.into_std()?;
    std.set_nonblocking(false)?;
    Ok(std)
}

async fn answer_while<F: std::future::Future>(ctx: &mut Ctx, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => return Some(r),
            n = ctx.election_rx.recv() => {
                let (from, bytes) = n?;
                ctx.election_input(from, &bytes);
            }
            s = ctx.accepted.recv() => drop(s?),
        }
    }
}

/// Dynamic reconfig is not supported: a learner must never run on a
/// membership other than its leader's (its quorum arithmetic and its votes
/// would be wrong), so it leaves the role, loudly, when the leader
/// - proposes a reconfig (a txn of type `reconfig`, `PrepRequestProcessor`
///   logs it as a SetData of /zookeeper/config) while we are following; we
///   neither ACK nor apply it;
/// - activates one (COMMITANDACTIVATE, INFORMANDACTIVATE);
/// - announces at NEWLEADER (whose data is its `QuorumVerifier` text) a
///   membership different from our zoo.cfg's: ids, quorum and election
///   ports, roles (the host text and client address are not compared).
///
/// A reconfig already in the history a DIFF replays is applied like any
/// SetData once zoo.cfg holds the new membership, so the trees stay
/// identical. `None` when the packet is none of these.
pub(crate) fn membership_change(
    ours: &BTreeMap<Sid, crate::config::ServerSpec>,
    pkt: &QuorumPacket,
    broadcasting: bool,
) -> Option<String> {
    const HINT: &str = "dynamic reconfig is not supported; this member stops following and \
                        rejoins only once its zoo.cfg lists the leader's membership";
    match pkt.kind {
        packet::COMMITANDACTIVATE | packet::INFORMANDACTIVATE => Some(format!(
            "the leader activated a dynamic reconfig ({} of {:#x}): {HINT}",
            packet::name(pkt.kind),
            pkt.zxid
        )),
        packet::PROPOSAL if broadcasting => {
            let d = pkt.data.as_deref().unwrap_or_default();
            let is_reconfig = d.len() >= 32
                && i32::from_be_bytes([d[28], d[29], d[30], d[31]])
                    == zkproto::consts::op::RECONFIG;
            is_reconfig.then(|| {
                format!(
                    "the leader proposed a dynamic reconfig at {:#x}: {HINT}",
                    pkt.zxid
                )
            })
        }
        packet::NEWLEADER => {
            let text = pkt.data.as_deref().filter(|d| !d.is_empty())?;
            let theirs = crate::quorum::wire::parse_config_text(text).ok()?;
            let key = |s: &crate::config::ServerSpec| (s.quorum_port, s.election_port, s.observer);
            let mine: BTreeMap<u64, _> = ours.iter().map(|(id, s)| (*id as u64, key(s))).collect();
            let leaders: BTreeMap<u64, _> =
                theirs.servers.iter().map(|(id, s)| (*id, key(s))).collect();
            (mine != leaders).then(|| {
                let ids = |m: &BTreeMap<u64, (u16, u16, bool)>| {
                    m.iter()
                        .map(|(id, (q, e, o))| {
                            format!("{id}:{q}:{e}{}", if *o { ":observer" } else { "" })
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!(
                    "the leader's membership (NEWLEADER, config version {:#x}: {}) differs from \
                     zoo.cfg's ({}): {HINT}",
                    theirs.version,
                    ids(&leaders),
                    ids(&mine)
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod membership_tests {
    use super::*;
    use crate::config::ServerSpec;

    fn spec(id: u64, q: u16, e: u16, observer: bool) -> ServerSpec {
        ServerSpec {
            id,
            host: "127.0.0.1".into(),
            quorum_port: q,
            election_port: e,
            observer,
            client_addr: Some(("0.0.0.0".into(), 2181)),
        }
    }

    fn ours() -> BTreeMap<Sid, ServerSpec> {
        (1..=3)
            .map(|i| (i as Sid, spec(i, 2887 + i as u16, 3887 + i as u16, false)))
            .collect()
    }

    fn pkt(kind: i32, data: Option<Vec<u8>>) -> QuorumPacket {
        QuorumPacket {
            kind,
            zxid: 0x100000005,
            data,
            auth: None,
        }
    }

    #[test]
    fn the_same_membership_passes_and_a_changed_one_is_named() {
        let same = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                    server.2=localhost:2889:3889:participant\n\
                    server.3=127.0.0.1:2890:3890:participant;2183\nversion=0";
        assert_eq!(
            membership_change(&ours(), &pkt(packet::NEWLEADER, Some(same.into())), false),
            None
        );
        let grown = format!(
            "{}\nserver.4=127.0.0.1:2891:3891:observer\nversion=100000004",
            &same[..same.len() - 10]
        );
        let why = membership_change(&ours(), &pkt(packet::NEWLEADER, Some(grown.into())), false)
            .expect("a changed membership is refused");
        assert!(
            why.contains("4:2891:3891:observer") && why.contains("not supported"),
            "{why}"
        );
        // An empty NEWLEADER (pre-3.5 style) says nothing about membership.
        assert_eq!(
            membership_change(&ours(), &pkt(packet::NEWLEADER, None), false),
            None
        );
    }

    #[test]
    fn reconfig_proposals_and_activations_are_refused() {
        let mut txn = vec![0u8; 40];
        txn[28..32].copy_from_slice(&zkproto::consts::op::RECONFIG.to_be_bytes());
        let p = pkt(packet::PROPOSAL, Some(txn.clone()));
        assert!(membership_change(&ours(), &p, true)
            .unwrap()
            .contains("proposed a dynamic reconfig"));
        // In a DIFF it is history: applied like a SetData, judged at NEWLEADER.
        assert_eq!(membership_change(&ours(), &p, false), None);
        txn[28..32].copy_from_slice(&zkproto::consts::op::SET_DATA.to_be_bytes());
        assert_eq!(
            membership_change(&ours(), &pkt(packet::PROPOSAL, Some(txn)), true),
            None
        );
        for k in [packet::COMMITANDACTIVATE, packet::INFORMANDACTIVATE] {
            assert!(membership_change(&ours(), &pkt(k, Some(vec![0; 8])), true).is_some());
        }
    }
}
