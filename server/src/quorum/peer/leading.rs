//! LEADING: the thin driver around [`Leader`]. It accepts learner
//! connections on the quorum port, feeds the core packets, ticks, the
//! pipeline's proposals and the log's durability notices, and executes the
//! core's outputs in order (see `zab`'s driver contract).

use std::collections::HashMap;
use std::time::Instant;

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::transport::{send_committed_range, Link, LinkEvent};
use super::{Common, Ctx, RoleEnd};
use crate::pipeline::role::{Mode, PeerEvent, PeerMsg, QuorumStats};
use crate::quorum::types::{packet, LearnerType, QuorumPacket};
use crate::quorum::wire::payload::decode_forwarded_request;
use crate::quorum::zab::leader::DEFAULT_COMMIT_LOG_COUNT;
use crate::quorum::zab::{ConnId, Leader, LeaderConfig, Output};
use zkproto::consts::op;

pub(super) async fn lead(ctx: &mut Ctx) -> RoleEnd {
    let started = Instant::now();
    let Some(state) = ctx.member_state().await else {
        return RoleEnd::Shutdown;
    };
    let (accepted_epoch, current_epoch) = ctx.epochs(state.last_logged());
    // The committed txns still in the on-disk log: a learner further behind
    // than the in-memory committed log gets them by DIFF, not SNAP.
    let dir = crate::storage::datadir::version_dir(&ctx.cfg.data_dir);
    let log_dir = crate::storage::datadir::version_dir(ctx.cfg.log_dir());
    let upto = state.last_zxid;
    let history = match tokio::task::spawn_blocking(move || {
        super::transport::disk_history(&dir, &log_dir, upto, DEFAULT_COMMIT_LOG_COUNT)
    })
    .await
    {
        Ok(Ok(h)) => Some(h),
        Ok(Err(e)) => {
            warn!("indexing the txn log for DIFF: {e}; learners behind the committed log get SNAP");
            None
        }
        Err(_) => None,
    };
    let (disk_log, disk_size_limit, recent) = match history {
        Some(h) => (h.index, h.size_limit, h.recent),
        None => (Vec::new(), None, Vec::new()),
    };
    // The committed log: what this process committed, or (after a restart,
    // or when the log knows more) the newest committed txns on disk.
    let committed_log = if recent.last().map(|r| r.0) >= state.committed_log.last().map(|c| c.0)
        && recent.len() >= state.committed_log.len()
    {
        recent
    } else {
        state.committed_log
    };
    let cfg = LeaderConfig {
        me: ctx.q.my_id,
        voters: ctx.q.voters(),
        observers: ctx.q.observers(),
        accepted_epoch,
        current_epoch,
        last_committed: state.last_zxid,
        committed_log,
        tail: state.tail.clone(),
        disk_log,
        disk_size_limit,
        txn_log_sync: true,
        commit_log_count: DEFAULT_COMMIT_LOG_COUNT,
        limits: ctx.limits(),
        config_text: ctx.config_text(),
    };
    let mut leader = match Leader::new(cfg) {
        Ok(l) => l,
        Err(e) => return RoleEnd::Abandoned(format!("cannot lead: {e}")),
    };
    // Learners that dialled while we were still LOOKING are ours, unless
    // they waited longer than a learner would (initLimit).
    let fresh = ctx.q.tick() * ctx.q.init_limit.max(1);
    let early: Vec<std::net::TcpStream> = std::mem::take(&mut ctx.early)
        .into_iter()
        .filter(|(at, _)| at.elapsed() < fresh)
        .map(|(_, s)| s)
        .collect();
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut links: HashMap<ConnId, Link> = HashMap::new();
    let mut next_conn: ConnId = 1;
    let mut tick = tokio::time::interval(ctx.half_tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stats = QuorumStats::default();
    info!(
        "LEADING: epoch {} proposed, last zxid 0x{:x}",
        leader.epoch(),
        state.last_zxid
    );
    let mut early = early.into_iter();
    loop {
        let pending = early.next();
        tokio::select! {
            // Biased so a queued early learner is always taken, never lost.
            biased;
            s = async { match pending { Some(s) => Some(s), None => ctx.accepted.recv().await } } => {
                let Some(stream) = s else { return RoleEnd::Shutdown };
                let id = next_conn;
                next_conn += 1;
                let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                match Link::start(id, stream, ev_tx.clone(), false, ctx.cfg.extended_types, ctx.read_timeout()) {
                    Ok(l) => {
                        info!("learner connection {id} from {peer}");
                        links.insert(id, l);
                        // The limit follows the newest snapshot, as Java's
                        // is computed per sync.
                        let snap_dir = crate::storage::datadir::version_dir(&ctx.cfg.data_dir);
                        leader.set_disk_size_limit(super::transport::disk_size_limit(&snap_dir));
                        leader.connected(id);
                    }
                    Err(e) => warn!("learner connection from {peer}: {e}"),
                }
            }
            ev = ev_rx.recv() => match ev {
                Some(LinkEvent::Packet(conn, pkt)) => {
                    if pkt.kind == packet::REQUEST && is_sync(&pkt) {
                        // A learner's `sync`: answered in order with the
                        // proposals in flight (Leader.processSync).
                        if leader.learner_sid(conn).is_some() {
                            leader.sync(conn);
                        }
                    } else {
                        leader.receive(conn, pkt);
                    }
                }
                Some(LinkEvent::Snap { conn, .. }) => {
                    leader.disconnected(conn);
                    links.remove(&conn);
                }
                Some(LinkEvent::Closed(conn, why)) => {
                    match leader.learner_sid(conn) {
                        Some(sid) => info!("learner {sid} (connection {conn}) went away: {why}"),
                        None => warn!("learner connection {conn} closed before it registered: {why}"),
                    }
                    leader.disconnected(conn);
                    links.remove(&conn);
                }
                None => return RoleEnd::Shutdown,
            },
            m = ctx.from_core.recv() => match m {
                Some(PeerMsg::Propose { zxid, txn }) => match leader.propose(txn) {
                    Ok(z) if z == zxid => {}
                    Ok(z) => {
                        return RoleEnd::Abandoned(format!(
                            "the pipeline numbered a txn 0x{zxid:x} but the leader assigned 0x{z:x}"
                        ))
                    }
                    Err(e) => return RoleEnd::Abandoned(format!("cannot propose: {e:?}")),
                },
                Some(PeerMsg::Persisted(z)) => leader.persisted(z),
                Some(PeerMsg::Fail(why)) => return RoleEnd::Abandoned(why),
                Some(PeerMsg::Forward(_)) | Some(PeerMsg::Touches(_)) => {}
                None => return RoleEnd::Shutdown,
            },
            n = ctx.election_rx.recv() => match n {
                Some((from, bytes)) => ctx.election_input(from, &bytes),
                None => return RoleEnd::Shutdown,
            },
            _ = tick.tick() => {
                leader.tick();
                ctx.election_tick();
            }
        }
        let synced = leader.synced_learners();
        let now = QuorumStats {
            peer_state: format!(
                "leading - {}",
                if leader.is_established() {
                    "broadcast"
                } else {
                    "synchronization"
                }
            ),
            quorum_size: ctx.q.voters().len(),
            learners: leader.learner_count(),
            synced_followers: synced
                .iter()
                .filter(|l| l.1 == LearnerType::Participant)
                .count(),
            synced_observers: synced
                .iter()
                .filter(|l| l.1 == LearnerType::Observer)
                .count(),
            pending_syncs: leader.pending_sync_count(),
        };
        if now != stats {
            stats = now.clone();
            ctx.to_core(PeerEvent::Stats(now)).await;
        }
        for out in leader.take_outputs() {
            let out = match ctx.execute_common(out).await {
                Common::Done => continue,
                Common::End(end) => return end,
                Common::Other(o) => o,
            };
            match out {
                Output::Send { to, pkt } => {
                    if matches!(pkt.kind, packet::DIFF | packet::TRUNC) {
                        info!(
                            "learner {} (connection {to}): {} at 0x{:x}",
                            sid_label(leader.learner_sid(to)),
                            packet::name(pkt.kind),
                            pkt.zxid
                        );
                    }
                    if let Some(l) = links.get(&to) {
                        l.send(&pkt);
                    }
                }
                Output::SendSnapshot { to, zxid } => {
                    let (tx, rx) = oneshot::channel();
                    ctx.to_core(PeerEvent::SnapshotBody { zxid, reply: tx })
                        .await;
                    match rx.await {
                        Ok(Ok(body)) => {
                            if let Some(l) = links.get(&to) {
                                info!(
                                    "learner {} (connection {to}): SNAP at 0x{zxid:x} ({} bytes)",
                                    sid_label(leader.learner_sid(to)),
                                    body.len()
                                );
                                l.send(&QuorumPacket::bare(packet::SNAP, zxid));
                                l.send_raw(body);
                            }
                        }
                        Ok(Err(e)) => return RoleEnd::Abandoned(format!("SNAP: {e}")),
                        Err(_) => return RoleEnd::Shutdown,
                    }
                }
                Output::SendCommittedRange { to, after, upto } => {
                    if let Some(l) = links.get(&to) {
                        let dir = crate::storage::datadir::version_dir(ctx.cfg.log_dir());
                        match send_committed_range(l, &dir, after, upto) {
                            Ok(n) => {
                                info!("learner connection {to}: DIFF of {n} txns from the log")
                            }
                            Err(e) => {
                                warn!("learner connection {to}: reading the log for DIFF: {e}");
                                l.close();
                            }
                        }
                    }
                }
                Output::StartServing => {
                    let learners = leader.synced_learners();
                    info!(
                        "LEADING: epoch {} established in {} ms with {} synced learners {:?}; serving",
                        leader.epoch(),
                        started.elapsed().as_millis(),
                        learners.len(),
                        learners.iter().map(|l| l.0).collect::<Vec<_>>()
                    );
                    ctx.to_core(PeerEvent::Serving {
                        mode: Mode::Leader,
                        epoch: leader.epoch(),
                    })
                    .await;
                }
                Output::Close { conn, reason } => {
                    info!("dropping learner connection {conn}: {reason}");
                    links.remove(&conn);
                }
                Output::Touches { touches, .. } => ctx.to_core(PeerEvent::Touches(touches)).await,
                Output::Forwarded { conn, pkt, .. } => match pkt.kind {
                    packet::REQUEST => ctx.to_core(PeerEvent::Forwarded(pkt)).await,
                    packet::REVALIDATE => {
                        // Sessions are replicated: every member validates a
                        // reconnecting session itself; answer "valid" only
                        // for a well-formed request so Java learners proceed.
                        if let Some(l) = links.get(&conn) {
                            if let Ok((sid, _)) =
                                crate::quorum::wire::payload::decode_revalidate_request(
                                    pkt.data.as_deref(),
                                )
                            {
                                let valid = ctx.session_exists(sid).await;
                                l.send(&QuorumPacket::with_data(
                                    packet::REVALIDATE,
                                    -1,
                                    crate::quorum::wire::payload::revalidate_reply_data(sid, valid),
                                ));
                            }
                        }
                    }
                    _ => {}
                },
                // Learner-only, or executed by execute_common.
                _ => {}
            }
        }
    }
}

fn is_sync(pkt: &QuorumPacket) -> bool {
    decode_forwarded_request(pkt.data.as_deref()).is_ok_and(|r| r.op == op::SYNC)
}

/// "sid 2", or "sid ?" before the learner has said who it is.
fn sid_label(sid: Option<impl std::fmt::Display>) -> String {
    match sid {
        Some(s) => format!("sid {s}"),
        None => "sid ?".into(),
    }
}
