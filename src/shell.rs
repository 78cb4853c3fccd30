//! The state one shell keeps across commands (session, command counter,
//! history, event delivery) and the line-level driver shared by the REPL and
//! batch mode.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, Notify};
use zkproto::consts::{event, state};

use crate::client::{Client, ClientOptions, State, WatchedEvent};
use crate::commands::{self, exit, CmdError, CmdResult};
use crate::output::{self, Out};

/// Connection settings from the command line, reused by `connect`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub session_timeout_ms: u32,
    pub read_only: bool,
    /// `-waitforconnection`: block until connected (at most the timeout).
    pub wait: bool,
}

/// Where asynchronous output (watch events) goes.
pub enum Sink {
    /// Batch mode: node events on stdout (as zkCli), connection-state events
    /// on stderr so that stdout carries only results.
    Batch,
    /// The REPL: everything through rustyline's external printer, which
    /// prints above the prompt and redraws the line being typed.
    Printer(Box<dyn rustyline::ExternalPrinter + Send>),
}

/// Receives every event of the session: prints it (unless `printwatches
/// off`) and queues node events for `wait`.
pub struct EventHub {
    /// The current session's event channel, shared by the pump task and
    /// [`EventHub::drain`]; events are delivered while this lock is held so
    /// the two can never reorder them.
    rx: Mutex<Option<mpsc::UnboundedReceiver<WatchedEvent>>>,
    /// Bumped for every new session, so a stale pump task stops.
    generation: AtomicU64,
    print_watches: AtomicBool,
    sink: Mutex<Sink>,
    /// Queued node events with their arrival number (see [`EventHub::mark`]).
    queue: Mutex<VecDeque<(u64, WatchedEvent)>>,
    /// While the REPL reads a line: what its prompt is made of, so that a
    /// state event redraws the prompt with the session's new state.
    prompt: Mutex<Option<PromptSource>>,
    /// How many events have been queued so far.
    arrived: AtomicU64,
    /// The current session ended with `Expired`.
    expired: AtomicBool,
    notify: Notify,
    out: Out,
}

/// The parts of the REPL's prompt (`[zk: host(STATE) N] `): the state is
/// read from the client when the prompt is drawn.
pub struct PromptSource {
    pub host: String,
    pub count: usize,
    pub client: Option<Client>,
}

impl PromptSource {
    pub fn render(&self) -> String {
        let state = match &self.client {
            Some(c) => c.state().to_string(),
            None => "CLOSED".into(),
        };
        format!("[zk: {}({}) {}] ", self.host, state, self.count)
    }
}

/// Printed once under the `Expired` event.
pub const EXPIRED_NOTE: &str = "The session has expired: the server heard nothing from it for \
longer than its timeout, so its ephemeral nodes are deleted and its watches are gone. \
`connect` opens a new session (`connect host:port` for another server).";

/// Events kept for `wait` when nobody waits (old ones are dropped first).
const MAX_QUEUED_EVENTS: usize = 10_000;

impl EventHub {
    pub fn new(out: Out, sink: Sink) -> Arc<EventHub> {
        Arc::new(EventHub {
            rx: Mutex::new(None),
            generation: AtomicU64::new(0),
            print_watches: AtomicBool::new(true),
            sink: Mutex::new(sink),
            queue: Mutex::new(VecDeque::new()),
            arrived: AtomicU64::new(0),
            expired: AtomicBool::new(false),
            prompt: Mutex::new(None),
            notify: Notify::new(),
            out,
        })
    }

    pub fn print_watches(&self) -> bool {
        self.print_watches.load(Ordering::SeqCst)
    }

    pub fn set_print_watches(&self, on: bool) {
        self.print_watches.store(on, Ordering::SeqCst);
    }

    /// Whether the current session ended with `Expired`.
    pub fn session_expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }

    /// Sets (REPL reading a line) or clears what the prompt shows.
    pub fn set_prompt(&self, p: Option<PromptSource>) {
        if let Ok(mut g) = self.prompt.lock() {
            *g = p;
        }
    }

    pub fn set_sink(&self, sink: Sink) {
        if let Ok(mut s) = self.sink.lock() {
            *s = sink;
        }
    }

    /// Handles one event from the client.
    pub fn deliver(&self, ev: WatchedEvent) {
        let is_state = ev.event_type == event::NONE;
        let terminal = is_state
            && matches!(
                ev.state,
                state::EXPIRED | state::CLOSED | state::AUTH_FAILED
            );
        if is_state && ev.state == state::EXPIRED {
            self.expired.store(true, Ordering::SeqCst);
        }
        if !is_state || terminal {
            if let Ok(mut q) = self.queue.lock() {
                if q.len() >= MAX_QUEUED_EVENTS {
                    q.pop_front();
                }
                let n = self.arrived.fetch_add(1, Ordering::SeqCst) + 1;
                q.push_back((n, ev.clone()));
            }
            self.notify.notify_one();
        }
        if !self.print_watches() {
            return;
        }
        let text = if self.out.is_json() {
            format!("{}\n", output::event_json(&ev))
        } else if is_state && ev.state == state::EXPIRED {
            // zkCli prints the event and nothing more; every later command
            // then fails without saying why. Say it once, here.
            format!(
                "{}{EXPIRED_NOTE}\n",
                output::watcher_block(&ev, self.out.color)
            )
        } else {
            output::watcher_block(&ev, self.out.color)
        };
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        match &mut *sink {
            Sink::Printer(p) => {
                // A state change redraws the prompt with the new state.
                let prompt = if is_state {
                    self.prompt
                        .lock()
                        .ok()
                        .and_then(|g| g.as_ref().map(PromptSource::render))
                } else {
                    None
                };
                let _ = p.print(match prompt {
                    Some(pr) => rustyline::prompt_message(&pr, &text),
                    None => text,
                });
            }
            Sink::Batch if is_state => {
                use std::io::Write;
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(text.as_bytes());
            }
            Sink::Batch => {
                use std::io::Write;
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(text.as_bytes());
                let _ = o.flush();
            }
        }
    }

    /// Switches to a new session's events: forgets queued events and
    /// returns the generation to give to [`pump`].
    pub fn attach(&self, rx: mpsc::UnboundedReceiver<WatchedEvent>) -> u64 {
        if let Ok(mut q) = self.queue.lock() {
            q.clear();
        }
        self.expired.store(false, Ordering::SeqCst);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut g) = self.rx.lock() {
            *g = Some(rx);
        }
        generation
    }

    /// Delivers every event already received. Batch mode calls this after
    /// each command, so an event caused by a command (it reaches the client
    /// before the command's reply) is printed before the next command's
    /// output, as zkCli's line-by-line timing would show it.
    pub fn drain(&self) {
        let Ok(mut g) = self.rx.lock() else { return };
        if let Some(rx) = g.as_mut() {
            while let Ok(ev) = rx.try_recv() {
                self.deliver(ev);
            }
        }
    }

    fn poll_deliver(&self, cx: &mut Context<'_>, generation: u64) -> Poll<()> {
        if self.generation.load(Ordering::SeqCst) != generation {
            return Poll::Ready(());
        }
        let Ok(mut g) = self.rx.lock() else {
            return Poll::Ready(());
        };
        let Some(rx) = g.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(ev)) => self.deliver(ev),
                Poll::Ready(None) => {
                    *g = None;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The number of the last event queued so far: an event queued later
    /// has a higher number.
    pub fn mark(&self) -> u64 {
        self.arrived.load(Ordering::SeqCst)
    }

    /// The oldest watch event queued after mark `after` and not yet
    /// returned by `wait`, waiting at most `timeout` (`None` = forever);
    /// older ones are dropped. A terminal session event (Expired, Closed,
    /// AuthFailed) ends the wait with an error.
    pub async fn next_event(
        &self,
        after: u64,
        timeout: Option<Duration>,
    ) -> Result<WatchedEvent, CmdError> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.notify.notified();
            let popped = self.queue.lock().ok().and_then(|mut q| {
                while q.front().is_some_and(|(n, _)| *n <= after) {
                    q.pop_front();
                }
                q.pop_front().map(|(_, ev)| ev)
            });
            if let Some(ev) = popped {
                if ev.event_type == event::NONE {
                    return Err(CmdError::Lost(format!(
                        "wait: the session ended: {}",
                        output::event_text(&ev)
                    )));
                }
                return Ok(ev);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Err(CmdError::Failed(format!(
                            "wait: no watch event within {} ms",
                            timeout.map(|t| t.as_millis()).unwrap_or_default()
                        )));
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// The whole shell: session, counters, output.
pub struct Shell {
    pub out: Out,
    pub hub: Arc<EventHub>,
    /// The connect string as given (shown in the prompt, reused by `connect`).
    pub host: String,
    pub opts: ConnectOptions,
    pub client: Option<Client>,
    /// zkCli's `commandCount`: N in the prompt and the `redo` index.
    pub count: usize,
    pub history: BTreeMap<usize, String>,
    /// Set by `quit`/`exit`.
    pub quit: bool,
    /// REPL mode: Ctrl-C interrupts the running command instead of the shell.
    pub interactive: bool,
    /// The task forwarding the current session's events (awaited on close so
    /// the `Closed` event is printed before the shell exits).
    pump: Option<tokio::task::JoinHandle<()>>,
    /// [`EventHub::mark`] when the last command other than `wait` started:
    /// `wait` returns only events queued after it (one that raced `wait` is
    /// kept, one printed and handled long ago is not; consecutive `wait`s
    /// take a burst of events one by one).
    pub wait_window: u64,
}

impl Shell {
    pub fn new(out: Out, hub: Arc<EventHub>, host: String, opts: ConnectOptions) -> Shell {
        Shell {
            out,
            hub,
            host,
            opts,
            client: None,
            count: 0,
            history: BTreeMap::new(),
            quit: false,
            interactive: false,
            pump: None,
            wait_window: 0,
        }
    }

    /// The session state as zkCli's prompt shows it.
    pub fn state(&self) -> String {
        match &self.client {
            Some(c) => c.state().to_string(),
            None => "CLOSED".into(),
        }
    }

    /// zkCli's `isAlive()`: anything but CLOSED and AUTH_FAILED.
    pub fn session_alive(&self) -> bool {
        match &self.client {
            Some(c) => !matches!(c.state(), State::Closed | State::AuthFailed),
            None => false,
        }
    }

    pub fn prompt(&self) -> String {
        self.prompt_source().render()
    }

    pub fn prompt_source(&self) -> PromptSource {
        PromptSource {
            host: self.host.clone(),
            count: self.count,
            client: self.client.clone(),
        }
    }

    /// Opens a session to `host` (closing the current one first), as zkCli's
    /// `connectToZK`.
    pub async fn connect(&mut self, host: &str) -> CmdResult {
        self.close_session().await;
        self.host = host.to_string();
        let opts = ClientOptions {
            session_timeout_ms: self.opts.session_timeout_ms,
            can_be_read_only: self.opts.read_only,
            ..Default::default()
        };
        let (client, rx) = Client::new(host, opts).map_err(|code| match code {
            zkproto::ErrorCode::BadArguments => {
                CmdError::Usage(format!("Invalid connect string \"{host}\""))
            }
            code => CmdError::Keeper { code, path: None },
        })?;
        let generation = self.hub.attach(rx);
        self.pump = Some(tokio::spawn(pump(self.hub.clone(), generation)));
        self.client = Some(client.clone());
        let t = Duration::from_millis(u64::from(self.opts.session_timeout_ms));
        if self.opts.wait {
            // A script gives up once every host failed twice in a row
            // (refused, unresolvable, no handshake): waiting out the whole
            // session timeout for a port nobody listens on helps no one.
            // An interactive -waitforconnection waits the full time, as asked.
            let rounds = if self.interactive { usize::MAX } else { 2 };
            if let Err((code, attempts)) = client.wait_connected_or_unreachable(t, rounds).await {
                self.close_session().await;
                return Err(CmdError::Lost(match attempts {
                    Some(a) => format!("Could not connect to {host}: {}", a.summary()),
                    None => format!(
                        "Could not connect to {host} within {} ms ({})",
                        t.as_millis(),
                        commands::generic_keeper_message(code, None)
                    ),
                }));
            }
        } else if self.interactive {
            // The REPL keeps the session trying in the background (zkCli
            // does too), but says so once instead of leaving a silent
            // CONNECTING prompt.
            let probe = Duration::from_millis(2000).min(t);
            if let Err((_, Some(a))) = client.wait_connected_or_unreachable(probe, 1).await {
                self.out.note(&format!(
                    "Cannot reach {host} ({}); still retrying in the background. \
                     Commands fail with ConnectionLoss until a server answers; \
                     `connect host:port` switches, `quit` leaves.",
                    a.summary()
                ));
            }
        }
        Ok(())
    }

    /// Closes the session if it is alive (ephemerals go away at once).
    pub async fn close_session(&mut self) {
        if let Some(c) = &self.client {
            if !matches!(c.state(), State::Closed) {
                let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
            }
        }
        // The client ends the event channel after `Closed`; wait (briefly)
        // until that last event has been printed.
        if let Some(p) = self.pump.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
        }
    }

    /// Runs one input line the zkCli way: empty (or whitespace-only, or `#`
    /// comment) lines are skipped and not counted; anything else is recorded
    /// in the history under the current N, run, reported, and N increases.
    /// Returns `None` for a skipped line, else the command's exit code.
    pub async fn execute_line(&mut self, line: &str) -> Option<i32> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let args = commands::tokenize(line);
        self.history.insert(self.count, line.to_string());
        self.start_command(&args);
        let r = if self.interactive {
            tokio::select! {
                r = commands::dispatch(self, args) => r,
                _ = tokio::signal::ctrl_c() => Err(CmdError::Interrupted),
            }
        } else {
            commands::dispatch(self, args).await
        };
        self.hub.drain();
        let code = self.report(r);
        self.count += 1;
        Some(code)
    }

    /// Runs an already split command (argv mode), reporting the outcome.
    pub async fn execute_args(&mut self, args: Vec<String>) -> i32 {
        self.start_command(&args);
        let r = commands::dispatch(self, args).await;
        self.hub.drain();
        self.report(r)
    }

    /// Every event delivered so far belongs to the commands before this
    /// one; unless this is a `wait`, later `wait`s look only past it.
    fn start_command(&mut self, args: &[String]) {
        self.hub.drain();
        if args.first().map(String::as_str) != Some("wait") {
            self.wait_window = self.hub.mark();
        }
    }

    /// Prints a command's failure the way zkCli does and returns its exit code.
    pub fn report(&self, r: CmdResult) -> i32 {
        let e = match r {
            Ok(()) => return exit::OK,
            Err(e) => e,
        };
        let code = e.exit_code();
        if self.out.is_json() {
            if !matches!(e, CmdError::Silent(_)) {
                let v = json!({"error": e.message(), "exit_code": code});
                eprintln!("{v}");
            }
            return code;
        }
        match &e {
            CmdError::Silent(_) => {}
            CmdError::NotConnected if self.hub.session_expired() => self.out.line(
                "Not connected: the session expired (its ephemerals and watches are gone); \
                 `connect` opens a new session",
            ),
            CmdError::NotConnected => self.out.line("Not connected"),
            CmdError::NotFound(_) => {
                self.out.err_line(&commands::usage_listing());
                self.out.err_line(&e.message());
            }
            _ => self.out.err_line(&e.message()),
        }
        code
    }
}

/// Delivers the session's events as they arrive, until its channel ends (or
/// a newer session replaces it).
async fn pump(hub: Arc<EventHub>, generation: u64) {
    std::future::poll_fn(|cx| hub.poll_deliver(cx, generation)).await;
}
