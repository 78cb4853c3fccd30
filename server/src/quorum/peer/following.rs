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
        let dial = tokio::task::spawn_blocking(move || TcpStream::connect_timeout(&addr, timeout));
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
