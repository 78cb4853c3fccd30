//! LOOKING: the thin driver around the pure [`Election`] core. It owns the
//! election port ([`CnxManager`]), turns frames into notifications and the
//! core's outputs back into frames, and keeps answering LOOKING peers while
//! the member is in a role (Java's `WorkerReceiver` never stops), which is
//! how a restarted or late member joins the existing leader.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{debug, info};

use super::Ctx;
use crate::pipeline::role::{PeerEvent, QuorumStats};
use crate::quorum::cnxmanager::{CnxConfig, CnxManager};
use crate::quorum::election::{Election, ElectionConfig, Output, Timing};
use crate::quorum::peer_config::QuorumConfig;
use crate::quorum::types::{LearnerType, PeerState, Sid, Zxid};
use crate::quorum::wire::{decode_notification, encode_notification, WireError};

/// How long an election may leave the driver without a tick when the core
/// names no deadline (it always does while looking; this is a backstop).
const IDLE_TICK: Duration = Duration::from_millis(200);

/// The election side of a member: the election port and the FLE core.
pub struct Electing {
    core: Election,
    cnx: CnxManager,
    clock: Instant,
}

/// The outcome of one election.
pub(crate) struct Decision {
    pub state: PeerState,
    pub leader: Sid,
}

impl Electing {
    /// Starts the election port on `listener`. Frames arrive on the
    /// returned channel as (sender sid, payload).
    pub fn start(
        q: &QuorumConfig,
        listener: tokio::net::TcpListener,
    ) -> (Electing, mpsc::Receiver<(Sid, Vec<u8>)>) {
        let peers: HashMap<Sid, String> = q
            .servers
            .keys()
            .filter(|id| **id != q.my_id)
            .filter_map(|id| q.election_address(*id).map(|a| (*id, a)))
            .collect();
        let (cnx, rx) = CnxManager::start(
            CnxConfig {
                my_sid: q.my_id,
                my_address: q.election_address(q.my_id).unwrap_or_default(),
                bind_ip: q.bind_ip(),
                peers,
                connect_timeout: q.cnx_timeout,
                initial_timeout: q.cnx_timeout,
            },
            listener,
        );
        let config = crate::quorum::wire::config_text::config_text(
            q.servers.values(),
            crate::quorum::types::STATIC_CONFIG_VERSION,
        )
        .into_bytes();
        let core = Election::new(ElectionConfig {
            my_sid: q.my_id,
            learner_type: q.my_type,
            voters: q.voters(),
            config,
            timing: Timing::default(),
        });
        (
            Electing {
                core,
                cnx,
                clock: Instant::now(),
            },
            rx,
        )
    }

    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Executes the core's outputs; returns the decision if one was made.
    fn execute(&mut self, outs: Vec<Output>) -> Option<Decision> {
        let mut decided = None;
        for o in outs {
            match o {
                Output::Send { to, n } => self.cnx.send(to, encode_notification(&n)),
                Output::ConnectAll => self.cnx.connect_all(),
                Output::NotificationTimeout { timeout_ms } => {
                    info!("Notification time out: {timeout_ms} ms")
                }
                Output::Decided {
                    state,
                    vote,
                    took_ms,
                } => {
                    info!(
                        "election decided in {took_ms} ms: {} with leader {} (peer epoch {}, zxid 0x{:x}, election epoch {})",
                        state.name(),
                        vote.leader,
                        vote.peer_epoch,
                        vote.zxid,
                        vote.election_epoch
                    );
                    decided = Some(Decision {
                        state,
                        leader: vote.leader,
                    });
                }
            }
        }
        decided
    }

    /// One frame from the election port. Undecodable frames are dropped
    /// with a debug line, as Java's `WorkerReceiver` drops them.
    pub(crate) fn receive(&mut self, from: Sid, bytes: &[u8]) -> Option<Decision> {
        let now = self.now();
        let outs = match decode_notification(bytes) {
            Ok(n) => self.core.receive(now, from, n),
            Err(WireError::UnknownState(_)) => self.core.receive_unknown_state(now, from),
            Err(e) => {
                debug!("dropping a notification from {from}: {e:?}");
                return None;
            }
        };
        self.execute(outs)
    }

    /// Time passes: runs the core's deadlines (finalizeWait, poll timeout).
    pub(crate) fn tick(&mut self) -> Option<Decision> {
        let now = self.now();
        if self.core.next_deadline().is_some_and(|d| d <= now) {
            let outs = self.core.tick(now, self.cnx.have_delivered());
            return self.execute(outs);
        }
        None
    }

    fn until_deadline(&self) -> Duration {
        match self.core.next_deadline() {
            Some(d) => Duration::from_millis(d.saturating_sub(self.now())).min(IDLE_TICK),
            None => IDLE_TICK,
        }
    }

    pub fn update_peer_epoch(&mut self, e: i64) {
        self.core.update_vote_peer_epoch(e);
    }

    pub fn shutdown(&self) {
        self.cnx.shutdown();
    }
}

/// One `lookForLeader`: runs until the core decides, answering whatever
/// else arrives in the meantime. `None` when the server is stopping.
pub(crate) async fn look(ctx: &mut Ctx, last_logged: Zxid, current_epoch: i64) -> Option<Decision> {
    ctx.to_core(PeerEvent::Stats(QuorumStats {
        peer_state: "looking - election".into(),
        quorum_size: ctx.q.voters().len(),
        ..Default::default()
    }))
    .await;
    if ctx.q.my_type == LearnerType::Observer {
        // zookeeper.observer.election.DelayMs: observers let voters go first.
        let ms = rand::random::<u64>() % 200;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    info!("LOOKING: last logged zxid 0x{last_logged:x}, current epoch {current_epoch}");
    let now = ctx.election.now();
    let outs = ctx
        .election
        .core
        .start_looking(now, last_logged, current_epoch);
    if let Some(d) = ctx.election.execute(outs) {
        return Some(d);
    }
    // readonlymode.enabled: after max(2 s, tickTime) of LOOKING, serve
    // read-only clients until the election ends (QuorumPeer.run).
    let ro_at = tokio::time::Instant::now() + ctx.q.tick().max(Duration::from_secs(2));
    let mut read_only = false;
    let decided = loop {
        let wait = ctx.election.until_deadline();
        let ro_pending = ctx.q.read_only_enabled && !read_only;
        tokio::select! {
            n = ctx.election_rx.recv() => {
                let (from, bytes) = n?;
                if let Some(d) = ctx.election.receive(from, &bytes) {
                    break d;
                }
            }
            _ = tokio::time::sleep(wait) => {
                if let Some(d) = ctx.election.tick() {
                    break d;
                }
            }
            _ = tokio::time::sleep_until(ro_at), if ro_pending => {
                read_only = true;
                ctx.to_core(PeerEvent::ReadOnly).await;
            }
            m = ctx.from_core.recv() => {
                // Not serving: nothing the pipeline sends matters now (it
                // fails what was in flight when it stopped serving).
                m?;
            }
            s = ctx.accepted.recv() => {
                // A learner that decided before we did: kept for `lead`.
                ctx.early.push((std::time::Instant::now(), s?));
            }
        }
    };
    if read_only {
        // The read-only server stops when the election ends.
        ctx.to_core(PeerEvent::NotServing).await;
    }
    Some(decided)
}
