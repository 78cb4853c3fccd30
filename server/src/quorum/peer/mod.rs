//! The quorum peer loop (`QuorumPeer.run`): LOOKING → elect → LEADING,
//! FOLLOWING or OBSERVING → back to LOOKING when the role ends.
//!
//! It is the thin I/O shell around the pure cores: the election port
//! ([`CnxManager`]) and the fast-leader-election core while looking, the
//! quorum port ([`transport`]) and the ZAB cores in a role. It never touches
//! the tree: everything the pipeline must do (log, apply, install or take a
//! snapshot, serve or stop serving) crosses the role seam as a
//! [`PeerEvent`], and what the pipeline hands over (proposals, forwarded
//! requests, durability notices) arrives as a [`PeerMsg`].
//!
//! * [`electing`]: one election, and answering LOOKING peers while in a role.
//! * [`leading`]: the leader's driver.
//! * [`following`]: the follower's and observer's driver.
//! * [`transport`]: quorum-port sockets and framing.

mod electing;
mod following;
mod leading;
pub mod transport;

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::peer_config::QuorumConfig;
use super::types::{epoch_of, PeerState, Sid};
use super::zab::{Limits, Output};
use crate::config::Config;
use crate::pipeline::msg::CoreMsg;
use crate::pipeline::role::{MemberState, PeerEvent, PeerMsg};

pub use electing::Electing;

/// What [`Ctx::execute_common`] did with an output.
pub(crate) enum Common {
    /// Executed (it is the same for every role).
    Done,
    /// The role is over.
    End(RoleEnd),
    /// Role-specific: the driver executes it.
    Other(Output),
}

/// How a role ended.
pub(crate) enum RoleEnd {
    /// Back to LOOKING, with the reason for the log.
    Abandoned(String),
    /// The pipeline is gone: the server is stopping.
    Shutdown,
}

/// What the drivers share: configuration, the channels to and from the
/// pipeline, the quorum port's accepted connections and the election.
pub(crate) struct Ctx {
    pub q: QuorumConfig,
    pub cfg: Arc<Config>,
    pub core: mpsc::Sender<CoreMsg>,
    pub from_core: mpsc::UnboundedReceiver<PeerMsg>,
    /// Connections accepted on the quorum port (used only while leading).
    pub accepted: mpsc::UnboundedReceiver<std::net::TcpStream>,
    pub election: Electing,
    pub election_rx: mpsc::Receiver<(Sid, Vec<u8>)>,
    /// Learners that dialled the quorum port while we were still LOOKING:
    /// they decided before we did, and are ours if we end up leading.
    pub early: Vec<(std::time::Instant, std::net::TcpStream)>,
}

impl Ctx {
    pub async fn to_core(&self, ev: PeerEvent) {
        let _ = self.core.send(CoreMsg::Peer(ev)).await;
    }

    pub async fn member_state(&self) -> Option<MemberState> {
        let (tx, rx) = oneshot::channel();
        self.to_core(PeerEvent::State { reply: tx }).await;
        rx.await.ok()
    }

    pub async fn session_exists(&self, sid: i64) -> bool {
        let (tx, rx) = oneshot::channel();
        self.to_core(PeerEvent::SessionValid {
            session: sid,
            reply: tx,
        })
        .await;
        rx.await.unwrap_or(false)
    }

    pub async fn take_snapshot(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.to_core(PeerEvent::TakeSnapshot { done: tx }).await;
        rx.await.map_err(|_| "the pipeline stopped".to_string())?
    }

    fn snap_dir(&self) -> std::path::PathBuf {
        crate::storage::datadir::version_dir(&self.cfg.data_dir)
    }

    /// (acceptedEpoch, currentEpoch) from their files; a missing file
    /// means the epoch of the last zxid (`QuorumPeer.loadDataBase`), and is
    /// written so the next start finds it.
    pub fn epochs(&self, last_zxid: i64) -> (i64, i64) {
        let dir = self.snap_dir();
        let fallback = epoch_of(last_zxid);
        let current = match crate::storage::datadir::read_current_epoch(&dir) {
            Ok(Some(e)) => e,
            Ok(None) => {
                let _ = crate::storage::datadir::write_current_epoch(&dir, fallback);
                fallback
            }
            Err(e) => {
                warn!(
                    "reading currentEpoch in {}: {e}; using {fallback}",
                    dir.display()
                );
                fallback
            }
        };
        let accepted = match crate::storage::datadir::read_accepted_epoch(&dir) {
            Ok(Some(e)) => e,
            Ok(None) => {
                let _ = crate::storage::datadir::write_accepted_epoch(&dir, fallback);
                fallback
            }
            Err(e) => {
                warn!(
                    "reading acceptedEpoch in {}: {e}; using {fallback}",
                    dir.display()
                );
                fallback
            }
        };
        (accepted, current)
    }

    pub fn write_accepted_epoch(&self, e: i64) -> Result<(), String> {
        crate::storage::datadir::write_accepted_epoch(&self.snap_dir(), e)
            .map_err(|err| format!("writing acceptedEpoch {e}: {err}"))
    }

    pub fn write_current_epoch(&self, e: i64) -> Result<(), String> {
        crate::storage::datadir::write_current_epoch(&self.snap_dir(), e)
            .map_err(|err| format!("writing currentEpoch {e}: {err}"))
    }

    pub fn limits(&self) -> Limits {
        Limits {
            init_limit: u64::from(self.q.init_limit.max(1)),
            sync_limit: u64::from(self.q.sync_limit.max(1)),
        }
    }

    pub fn half_tick(&self) -> Duration {
        (self.q.tick() / 2).max(Duration::from_millis(1))
    }

    /// A quorum socket silent this long is dead even if the core's own
    /// deadlines have not fired yet (Java's socket timeout, initLimit ticks).
    pub fn read_timeout(&self) -> Duration {
        self.q.tick() * self.q.init_limit.max(1) * 2
    }

    /// NEWLEADER's data: our view of the ensemble as `QuorumMaj.toString()`.
    pub fn config_text(&self) -> Vec<u8> {
        super::wire::config_text::config_text(
            self.q.servers.values(),
            super::types::STATIC_CONFIG_VERSION,
        )
        .into_bytes()
    }

    /// A notification while in a role: the core answers LOOKING peers; a
    /// "decision" here is only the core noticing the leader it follows.
    pub fn election_input(&mut self, from: Sid, bytes: &[u8]) {
        let _ = self.election.receive(from, bytes);
    }

    pub fn election_tick(&mut self) {
        let _ = self.election.tick();
    }

    pub fn update_vote_peer_epoch(&mut self, e: i64) {
        self.election.update_peer_epoch(e);
    }

    /// Executes the outputs both ZAB cores emit the same way: the log, the
    /// tree, epoch files, snapshots, the vote, and the end of the role.
    pub async fn execute_common(&mut self, out: Output) -> Common {
        match out {
            Output::Persist { zxid, txn } => self.to_core(PeerEvent::Persist { zxid, txn }).await,
            Output::Truncate { zxid } => self.to_core(PeerEvent::Truncate(zxid)).await,
            Output::Commit { zxid, txn } => self.to_core(PeerEvent::Commit { zxid, txn }).await,
            Output::TakeSnapshot => {
                if let Err(e) = self.take_snapshot().await {
                    return Common::End(RoleEnd::Abandoned(e));
                }
            }
            Output::WriteAcceptedEpoch(e) => {
                if let Err(err) = self.write_accepted_epoch(e) {
                    return Common::End(RoleEnd::Abandoned(err));
                }
            }
            Output::WriteCurrentEpoch(e) => {
                if let Err(err) = self.write_current_epoch(e) {
                    return Common::End(RoleEnd::Abandoned(err));
                }
            }
            Output::UpdateVotePeerEpoch(e) => self.update_vote_peer_epoch(e),
            Output::Abandon { reason } => return Common::End(RoleEnd::Abandoned(reason)),
            other => return Common::Other(other),
        }
        Common::Done
    }
}

/// Everything [`run`] needs, built by `server::start_member`.
pub struct PeerSetup {
    pub q: QuorumConfig,
    pub cfg: Arc<Config>,
    pub core: mpsc::Sender<CoreMsg>,
    pub from_core: mpsc::UnboundedReceiver<PeerMsg>,
    pub election_listener: tokio::net::TcpListener,
    pub quorum_listener: StdListener,
}

/// Runs the peer until the pipeline stops.
pub async fn run(s: PeerSetup) {
    let (acc_tx, accepted) = mpsc::unbounded_channel();
    let ql = s.quorum_listener;
    let spawned = std::thread::Builder::new()
        .name("quorum-accept".into())
        .spawn(move || {
            for c in ql.incoming() {
                match c {
                    Ok(stream) => {
                        if acc_tx.send(stream).is_err() {
                            return;
                        }
                    }
                    Err(e) => warn!("quorum port accept failed: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        warn!("cannot start the quorum port's accept thread: {e}");
        return;
    }
    let (election, election_rx) = Electing::start(&s.q, s.election_listener);
    let mut ctx = Ctx {
        q: s.q,
        cfg: s.cfg,
        core: s.core,
        from_core: s.from_core,
        accepted,
        election,
        election_rx,
        early: Vec::new(),
    };
    loop {
        let Some(state) = ctx.member_state().await else {
            return;
        };
        let (_, current_epoch) = ctx.epochs(state.last_logged());
        let looking = std::time::Instant::now();
        let decided = match electing::look(&mut ctx, state.last_logged(), current_epoch).await {
            Some(d) => d,
            None => return,
        };
        let ms = looking.elapsed().as_millis() as u64;
        ctx.to_core(PeerEvent::Elected { ms }).await;
        let end = match decided.state {
            PeerState::Leading => leading::lead(&mut ctx).await,
            PeerState::Following | PeerState::Observing => {
                following::follow(&mut ctx, decided.leader).await
            }
            PeerState::Looking => continue,
        };
        ctx.to_core(PeerEvent::NotServing).await;
        match end {
            RoleEnd::Abandoned(why) => info!("leaving the role, back to LOOKING: {why}"),
            RoleEnd::Shutdown => {
                ctx.election.shutdown();
                return;
            }
        }
    }
}
