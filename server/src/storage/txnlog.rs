//! ZooKeeper transaction logs (`log.<hex zxid>`), byte-compatible with
//! ZooKeeper 3.8 (`FileTxnLog`).
//!
//! ```text
//! FileHeader   magic "ZKLG", version 2, dbid 0                      16 bytes
//! entry*       checksum:long  Adler32 of the txn bytes only
//!              length:int
//!              txn bytes      TxnHeader ‖ record ‖ [TxnDigest]
//!              0x42           end-of-record ('B')
//! zeros        preallocation
//! ```
//!
//! **Writing.** [`TxnLogWriter`] buffers appended entries in memory and only
//! [`commit`](TxnLogWriter::commit) makes them durable (write + fdatasync),
//! which is the group-commit point: append a batch, commit once, then
//! acknowledge the batch. A file is created at the first append after
//! opening or [`roll`](TxnLogWriter::roll) and named after that entry's
//! zxid; existing files are never appended to (as in ZooKeeper). The file is
//! extended with zeros in `prealloc_size` steps whenever the write position
//! comes within 4 KiB of its end, so fdatasync rarely has to update the
//! size, and so a reader can tell the end of the data by a zero length.
//! Any I/O error poisons the writer: every later append/commit fails until a
//! new writer is opened, so nothing written after a failed fsync can ever be
//! acknowledged as durable. (ZooKeeper exits the process on such errors; a
//! server should restart recovery from disk rather than carry on.)
//!
//! **Reading.** [`read_log`] iterates every entry with zxid > Z across the
//! needed files (the newest log starting at or before Z, plus all later
//! ones). A file's data ends at EOF or at a zero length (preallocated zeros).
//! Damage — a partial entry, a missing end-of-record byte, a bad length or a
//! checksum mismatch — in the **last** file is a torn tail from a crash
//! mid-write: iteration stops and [`TxnLogIterator::tear`] reports where the
//! valid data ends, for [`truncate_tear`]. In an older file a partial entry
//! ends that file (ZooKeeper does the same), but a checksum mismatch or bad
//! length is corruption of acknowledged data and an error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use zkproto::txn::TxnEntry;

use crate::storage::datadir::{self, DataFile};

/// `"ZKLG"` as a big-endian int (`FileTxnLog.TXNLOG_MAGIC`).
pub const TXNLOG_MAGIC: i32 = 0x5A4B_4C47;
/// File format version in the header.
pub const TXNLOG_VERSION: i32 = 2;
/// dbid in log headers: ZooKeeper never sets it, so it is always 0.
pub const TXNLOG_DBID: i64 = 0;
/// Length of the file header.
pub const HEADER_LEN: u64 = 16;
/// The end-of-record byte after each entry.
pub const EOR: u8 = 0x42;
/// ZooKeeper's default `preAllocSize` (64 MiB; zoo.cfg `preAllocSize` is in KiB).
pub const DEFAULT_PREALLOC_SIZE: u64 = 64 * 1024 * 1024;
/// Largest txn we accept when reading. ZooKeeper's bound is jute.maxbuffer
/// plus slack (about 2 MiB by default, configurable); the checksum is what
/// really detects garbage, this only stops absurd lengths early.
pub const MAX_TXN_LEN: usize = 256 * 1024 * 1024;
/// Buffered bytes above which an append writes them out (without fsync).
const WRITE_THRESHOLD: usize = 1024 * 1024;
/// Overhead per entry besides the txn bytes: checksum, length, EOR.
const ENTRY_OVERHEAD: u64 = 8 + 4 + 1;

/// Knobs of [`TxnLogWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnLogOptions {
    /// Preallocation step in bytes; 0 disables preallocation.
    pub prealloc_size: u64,
    /// fdatasync at each commit (zoo.cfg `forceSync`, default yes).
    pub force_sync: bool,
    /// Roll to a new file at the commit that finds the current one larger
    /// than this (`zookeeper.txnLogSizeLimitInKb`); `None` = no limit.
    pub size_limit: Option<u64>,
}

impl Default for TxnLogOptions {
    fn default() -> Self {
        TxnLogOptions {
            prealloc_size: DEFAULT_PREALLOC_SIZE,
            force_sync: true,
            size_limit: None,
        }
    }
}

/// ZooKeeper's `FilePadding.calculateFileSizeWithPadding`: the size to extend
/// the file to, or `file_size` unchanged when the position is not yet within
/// 4 KiB of the end.
pub fn padded_size(position: u64, file_size: u64, prealloc_size: u64) -> u64 {
    if prealloc_size > 0 && position + 4096 >= file_size {
        if position > file_size {
            let s = position + prealloc_size;
            s - s % prealloc_size
        } else {
            file_size + prealloc_size
        }
    } else {
        file_size
    }
}

/// Adler32 of the txn bytes as ZooKeeper stores it (`Checksum.getValue()`).
pub fn txn_checksum(txn: &[u8]) -> i64 {
    i64::from(adler2::adler32_slice(txn))
}

fn file_header_bytes() -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&TXNLOG_MAGIC.to_be_bytes());
    h[4..8].copy_from_slice(&TXNLOG_VERSION.to_be_bytes());
    h[8..16].copy_from_slice(&TXNLOG_DBID.to_be_bytes());
    h
}

/// The zxid in a txn's `TxnHeader` (clientId:long, cxid:int, zxid:long, …).
pub fn txn_zxid(txn: &[u8]) -> Option<i64> {
    let b: [u8; 8] = txn.get(12..20)?.try_into().ok()?;
    Some(i64::from_be_bytes(b))
}

/// The log file being appended to.
struct OpenLog {
    file: File,
    path: PathBuf,
    start_zxid: i64,
    /// Bytes handed to the OS (the file cursor).
    written: u64,
    /// Appended but not yet written.
    buf: Vec<u8>,
    /// Size the file has been extended to (preallocation).
    file_size: u64,
    /// Whether the directory entry of this new file has been fsynced.
    dir_synced: bool,
}

impl OpenLog {
    fn position(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    fn write_out(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Appends to the transaction logs of one `version-2` directory. See the
/// module docs for the durability contract.
pub struct TxnLogWriter {
    dir: PathBuf,
    opts: TxnLogOptions,
    cur: Option<OpenLog>,
    /// Rolled files whose data may not be fsynced yet (ZooKeeper's
    /// `streamsToFlush`): synced and closed at the next commit.
    rolled: Vec<OpenLog>,
    failed: Option<(io::ErrorKind, String)>,
    last_zxid: i64,
    uncommitted: usize,
}

impl TxnLogWriter {
    /// A writer for `dir` (which must exist). No file is touched until the
    /// first append, which starts a new `log.<zxid>`.
    pub fn open(dir: &Path, opts: TxnLogOptions) -> io::Result<TxnLogWriter> {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("transaction log directory {} does not exist", dir.display()),
            ));
        }
        Ok(TxnLogWriter {
            dir: dir.to_path_buf(),
            opts,
            cur: None,
            rolled: Vec::new(),
            failed: None,
            last_zxid: -1,
            uncommitted: 0,
        })
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some((kind, msg)) => Err(io::Error::new(
                *kind,
                format!("transaction log unusable after an earlier I/O error: {msg}"),
            )),
        }
    }

    /// Records `e` as fatal for this writer and hands it back.
    fn poison(&mut self, e: io::Error) -> io::Error {
        tracing::error!("transaction log I/O error, refusing further writes: {e}");
        if self.failed.is_none() {
            self.failed = Some((e.kind(), e.to_string()));
        }
        e
    }

    /// Appends one entry (buffered; durable only after [`commit`](Self::commit)).
    pub fn append(&mut self, entry: &TxnEntry) -> io::Result<()> {
        self.append_raw(&entry.encode())
    }

    /// Appends already-encoded txn bytes (`TxnHeader ‖ record ‖ [digest]`),
    /// e.g. as received from a leader. The zxid is taken from the header.
    pub fn append_raw(&mut self, txn: &[u8]) -> io::Result<()> {
        self.check()?;
        let zxid = match txn_zxid(txn) {
            Some(z) if txn.len() >= 32 => z,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "txn shorter than a TxnHeader",
                ))
            }
        };
        if txn.len() > i32::MAX as usize {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "txn too large"));
        }
        match self.append_inner(zxid, txn) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.poison(e)),
        }
    }

    fn append_inner(&mut self, zxid: i64, txn: &[u8]) -> io::Result<()> {
        if zxid <= self.last_zxid {
            tracing::warn!(
                "Current zxid {zxid:#x} is <= {:#x} in the transaction log",
                self.last_zxid
            );
        } else {
            self.last_zxid = zxid;
        }
        if self.cur.is_none() {
            self.cur = Some(self.create_file(zxid)?);
        }
        let prealloc = self.opts.prealloc_size;
        let Some(log) = self.cur.as_mut() else {
            return Err(io::Error::other("no open log file"));
        };
        let want = padded_size(log.position(), log.file_size, prealloc);
        if want != log.file_size {
            log.file.set_len(want)?;
            log.file_size = want;
        }
        log.buf.extend_from_slice(&txn_checksum(txn).to_be_bytes());
        log.buf.extend_from_slice(&(txn.len() as i32).to_be_bytes());
        log.buf.extend_from_slice(txn);
        log.buf.push(EOR);
        if log.buf.len() >= WRITE_THRESHOLD {
            log.write_out()?;
        }
        self.uncommitted += 1;
        Ok(())
    }

    fn create_file(&self, zxid: i64) -> io::Result<OpenLog> {
        let path = self.dir.join(datadir::log_file_name(zxid));
        if let Ok(m) = fs::metadata(&path) {
            if m.len() > 0 {
                tracing::warn!(
                    "overwriting existing transaction log {} ({} bytes)",
                    path.display(),
                    m.len()
                );
            }
        }
        tracing::info!("Creating new log file: {}", path.display());
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(OpenLog {
            file,
            path,
            start_zxid: zxid,
            written: 0,
            buf: file_header_bytes().to_vec(),
            // As in ZooKeeper, which flushes the header before padding: the
            // first extension makes the file HEADER_LEN + prealloc_size long.
            file_size: HEADER_LEN,
            dir_synced: false,
        })
    }

    /// Writes everything appended so far and (with `force_sync`) fdatasyncs
    /// it, including files rolled since the last commit. When this returns
    /// `Ok`, every appended entry is durable and may be acknowledged.
    pub fn commit(&mut self) -> io::Result<()> {
        self.check()?;
        match self.commit_inner() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.poison(e)),
        }
    }

    fn commit_inner(&mut self) -> io::Result<()> {
        let sync = self.opts.force_sync;
        let mut new_file = false;
        for log in &mut self.rolled {
            log.write_out()?;
            if sync {
                sync_log(log)?;
            }
            new_file |= !log.dir_synced;
        }
        self.rolled.clear();
        if let Some(log) = self.cur.as_mut() {
            log.write_out()?;
            if sync {
                sync_log(log)?;
            }
            new_file |= !log.dir_synced;
            log.dir_synced = true;
        }
        if sync && new_file {
            // Make the new file's directory entry durable too.
            datadir::sync_dir(&self.dir)?;
        }
        self.uncommitted = 0;
        if let (Some(limit), Some(log)) = (self.opts.size_limit, self.cur.as_ref()) {
            if log.position() > limit {
                tracing::debug!("Log size limit reached: {}", log.position());
                self.roll()?;
            }
        }
        Ok(())
    }

    /// Ends the current file: the next append starts a new `log.<zxid>`.
    /// Pending entries stay pending until the next [`commit`](Self::commit).
    /// ZooKeeper rolls at every snapshot.
    pub fn roll(&mut self) -> io::Result<()> {
        self.check()?;
        if let Some(mut log) = self.cur.take() {
            if let Err(e) = log.write_out() {
                self.rolled.push(log);
                return Err(self.poison(e));
            }
            self.rolled.push(log);
        }
        Ok(())
    }

    /// Commits and closes the writer.
    pub fn close(mut self) -> io::Result<()> {
        self.commit()
    }

    /// Truncates the logs so that the last entry is `zxid` (see
    /// [`truncate_after`]); used for the quorum TRUNC. Pending entries are
    /// written out first and the current file is ended, so the next append
    /// starts a new file.
    pub fn truncate_after(&mut self, zxid: i64) -> io::Result<()> {
        self.roll()?;
        self.commit()?;
        match truncate_after(&self.dir, zxid) {
            Ok(()) => {
                self.last_zxid = zxid;
                Ok(())
            }
            Err(e) => Err(self.poison(e)),
        }
    }

    /// Ends the current file and removes every log file: a snapshot at
    /// `zxid` now holds the whole state (a learner's SNAP sync), and an
    /// older history must never be replayed on top of it.
    pub fn restart_after_snapshot(&mut self, zxid: i64) -> io::Result<()> {
        self.roll()?;
        self.commit()?;
        let res = (|| {
            for f in crate::storage::datadir::list_logs(&self.dir)? {
                std::fs::remove_file(&f.path)?;
            }
            crate::storage::datadir::sync_dir(&self.dir)
        })();
        match res {
            Ok(()) => {
                self.last_zxid = zxid;
                Ok(())
            }
            Err(e) => Err(self.poison(e)),
        }
    }

    /// The file being appended to, if any.
    pub fn current_path(&self) -> Option<&Path> {
        self.cur.as_ref().map(|l| l.path.as_path())
    }

    /// The first zxid of the current file, if any.
    pub fn current_start_zxid(&self) -> Option<i64> {
        self.cur.as_ref().map(|l| l.start_zxid)
    }

    /// Bytes of header and entries in the current file (not counting
    /// preallocation), for size-based snapshot/roll decisions.
    pub fn current_size(&self) -> u64 {
        self.cur.as_ref().map_or(0, |l| l.position())
    }

    /// The highest zxid appended through this writer (-1 if none).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Entries appended since the last successful commit.
    pub fn uncommitted(&self) -> usize {
        self.uncommitted
    }

    /// Whether an I/O error has made this writer refuse further writes.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    pub fn options(&self) -> TxnLogOptions {
        self.opts
    }
}

fn sync_log(log: &OpenLog) -> io::Result<()> {
    let start = std::time::Instant::now();
    log.file.sync_data()?;
    let ms = start.elapsed().as_millis();
    if ms > 1000 {
        tracing::warn!(
            "fsync-ing the write ahead log {} took {ms}ms which will adversely effect operation latency",
            log.path.display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// A transaction read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedTxn {
    pub entry: TxnEntry,
    /// The exact txn bytes as logged (what a leader sends in a PROPOSAL).
    pub raw: Vec<u8>,
    /// Start zxid (name) of the file it came from.
    pub log_zxid: i64,
    /// Offset of the entry's checksum in that file.
    pub offset: u64,
}

/// Why the data of a file ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The file is too short for its header (or the header is zeros).
    TruncatedHeader,
    /// EOF inside an entry, or the end-of-record byte is not 0x42.
    PartialEntry,
    /// A length that is negative, zero with a non-zero checksum, or absurd.
    BadLength(i32),
    /// The Adler32 stored does not match the bytes.
    ChecksumMismatch { stored: i64, computed: i64 },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::TruncatedHeader => write!(f, "truncated file header"),
            Damage::PartialEntry => write!(f, "partial entry"),
            Damage::BadLength(n) => write!(f, "invalid entry length {n}"),
            Damage::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC check failed (stored {stored:#x}, computed {computed:#x})"
                )
            }
        }
    }
}

/// A torn tail in the newest log file: everything from `offset` on is to be
/// discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTear {
    pub path: PathBuf,
    /// End of the last complete, verified entry (or of the header; 0 if the
    /// header itself is incomplete). Truncate the file here.
    pub offset: u64,
    /// File length when it was read.
    pub file_len: u64,
    /// Zxid of the last good entry in this file, if any.
    pub last_good_zxid: Option<i64>,
    pub damage: Damage,
}

/// What reading one position of a file found.
enum Step {
    Entry { raw: Vec<u8>, offset: u64 },
    End,
    Damaged(Damage),
}

/// Sequential reader of one log file.
struct LogFile {
    r: BufReader<File>,
    path: PathBuf,
    zxid: i64,
    pos: u64,
    len: u64,
    last_good_zxid: Option<i64>,
}

impl LogFile {
    /// Opens and checks the header. `Ok(Err(damage))` for a header cut short.
    fn open(f: &DataFile) -> io::Result<Result<LogFile, (u64, Damage)>> {
        let file = File::open(&f.path)?;
        let len = file.metadata()?.len();
        let mut r = BufReader::with_capacity(256 * 1024, file);
        let mut h = [0u8; 16];
        if len < HEADER_LEN {
            return Ok(Err((len, Damage::TruncatedHeader)));
        }
        r.read_exact(&mut h)?;
        if h.iter().all(|&b| b == 0) {
            return Ok(Err((len, Damage::TruncatedHeader)));
        }
        let magic = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if magic != TXNLOG_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "Transaction log: {} has invalid magic number {magic} != {TXNLOG_MAGIC}",
                    f.path.display()
                ),
            ));
        }
        Ok(Ok(LogFile {
            r,
            path: f.path.clone(),
            zxid: f.zxid,
            pos: HEADER_LEN,
            len,
            last_good_zxid: None,
        }))
    }

    fn step(&mut self) -> io::Result<Step> {
        let left = self.len - self.pos;
        if left == 0 {
            return Ok(Step::End);
        }
        if left < 12 {
            let mut rest = vec![0u8; left as usize];
            self.r.read_exact(&mut rest)?;
            return Ok(if rest.iter().all(|&b| b == 0) {
                Step::End
            } else {
                Step::Damaged(Damage::PartialEntry)
            });
        }
        let mut head = [0u8; 12];
        self.r.read_exact(&mut head)?;
        let mut crc = [0u8; 8];
        crc.copy_from_slice(&head[..8]);
        let stored = i64::from_be_bytes(crc);
        let n = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if n == 0 && stored == 0 {
            return Ok(Step::End);
        }
        if n <= 0 || n as usize > MAX_TXN_LEN {
            return Ok(Step::Damaged(Damage::BadLength(n)));
        }
        if (n as u64) + 1 > left - 12 {
            return Ok(Step::Damaged(Damage::PartialEntry));
        }
        let mut raw = vec![0u8; n as usize];
        self.r.read_exact(&mut raw)?;
        let mut eor = [0u8; 1];
        self.r.read_exact(&mut eor)?;
        if eor[0] != EOR {
            return Ok(Step::Damaged(Damage::PartialEntry));
        }
        let computed = txn_checksum(&raw);
        if computed != stored {
            return Ok(Step::Damaged(Damage::ChecksumMismatch { stored, computed }));
        }
        let offset = self.pos;
        self.pos += ENTRY_OVERHEAD + n as u64;
        if let Some(z) = txn_zxid(&raw) {
            self.last_good_zxid = Some(z);
        }
        Ok(Step::Entry { raw, offset })
    }
}

/// Iterator over logged transactions; see [`read_log`].
pub struct TxnLogIterator {
    /// Files still to open, in order.
    files: std::vec::IntoIter<DataFile>,
    last_file_zxid: Option<i64>,
    cur: Option<LogFile>,
    after: i64,
    tear: Option<LogTear>,
    finished: bool,
}

impl TxnLogIterator {
    /// The torn tail found in the last file, once iteration has reached it.
    pub fn tear(&self) -> Option<&LogTear> {
        self.tear.as_ref()
    }

    fn is_last(&self, zxid: i64) -> bool {
        self.last_file_zxid == Some(zxid)
    }

    fn advance(&mut self) -> io::Result<Option<LoggedTxn>> {
        loop {
            if self.cur.is_none() {
                let Some(f) = self.files.next() else {
                    return Ok(None);
                };
                match LogFile::open(&f)? {
                    Ok(lf) => self.cur = Some(lf),
                    Err((len, damage)) => {
                        if self.is_last(f.zxid) {
                            self.tear = Some(LogTear {
                                path: f.path.clone(),
                                offset: 0,
                                file_len: len,
                                last_good_zxid: None,
                                damage,
                            });
                            return Ok(None);
                        }
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("transaction log {} has {damage}", f.path.display()),
                        ));
                    }
                }
            }
            let Some(lf) = self.cur.as_mut() else {
                continue;
            };
            let step = lf.step()?;
            match step {
                Step::End => {
                    self.cur = None;
                }
                Step::Entry { raw, offset } => {
                    let entry = TxnEntry::decode(&raw).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "undecodable txn at offset {offset} of {}: {e}",
                                lf.path.display()
                            ),
                        )
                    })?;
                    if entry.header.zxid <= self.after {
                        continue;
                    }
                    return Ok(Some(LoggedTxn {
                        entry,
                        raw,
                        log_zxid: lf.zxid,
                        offset,
                    }));
                }
                Step::Damaged(damage) => {
                    let (zxid, path, pos, len, good) =
                        (lf.zxid, lf.path.clone(), lf.pos, lf.len, lf.last_good_zxid);
                    self.cur = None;
                    if self.is_last(zxid) {
                        self.tear = Some(LogTear {
                            path,
                            offset: pos,
                            file_len: len,
                            last_good_zxid: good,
                            damage,
                        });
                        return Ok(None);
                    }
                    match damage {
                        Damage::PartialEntry | Damage::TruncatedHeader => {
                            // ZooKeeper treats this as the end of that file.
                            tracing::warn!(
                                "transaction log {} ends with a partial entry at offset {pos}",
                                path.display()
                            );
                        }
                        d => {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("transaction log {} at offset {pos}: {d}", path.display()),
                            ))
                        }
                    }
                }
            }
        }
    }
}

impl Iterator for TxnLogIterator {
    type Item = io::Result<LoggedTxn>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

/// Iterates all logged txns with zxid > `after_zxid` in `dir` (a
/// `version-2` directory), in order, across files (`FileTxnLog.read`).
/// Use `after_zxid` = the snapshot's zxid for recovery, -1 for everything.
/// After the iterator returns `None`, check [`TxnLogIterator::tear`].
pub fn read_log(dir: &Path, after_zxid: i64) -> io::Result<TxnLogIterator> {
    let logs = datadir::list_logs(dir)?;
    let needed = datadir::logs_from(&logs, after_zxid).to_vec();
    Ok(TxnLogIterator {
        last_file_zxid: logs.last().map(|f| f.zxid),
        files: needed.into_iter(),
        cur: None,
        after: after_zxid,
        tear: None,
        finished: false,
    })
}

/// Cuts a torn log file back to its last complete entry (deleting it when
/// not even one entry survives), fsyncs, and logs a warning. Only call this
/// while no writer has the file open (i.e. during recovery).
pub fn truncate_tear(tear: &LogTear) -> io::Result<()> {
    tracing::warn!(
        "truncating torn transaction log {} at offset {} of {} bytes ({}; last good zxid {})",
        tear.path.display(),
        tear.offset,
        tear.file_len,
        tear.damage,
        tear.last_good_zxid
            .map_or_else(|| "none".to_string(), |z| format!("{z:#x}"))
    );
    if tear.offset <= HEADER_LEN {
        fs::remove_file(&tear.path)?;
    } else {
        let f = OpenOptions::new().write(true).open(&tear.path)?;
        f.set_len(tear.offset)?;
        f.sync_all()?;
    }
    if let Some(dir) = tear.path.parent() {
        datadir::sync_dir(dir)?;
    }
    Ok(())
}

/// What [`replay`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaySummary {
    /// Entries passed to the callback.
    pub count: u64,
    /// Zxid of the last entry passed to the callback.
    pub last_zxid: Option<i64>,
    /// The torn tail that was found and truncated, if any.
    pub truncated: Option<LogTear>,
}

/// Recovery's log step: feeds every txn with zxid > `after_zxid` to `apply`,
/// then truncates a torn tail of the newest file (with a warning) so the
/// next writer starts from clean data. Errors from `apply` stop the replay.
pub fn replay(
    dir: &Path,
    after_zxid: i64,
    mut apply: impl FnMut(LoggedTxn) -> io::Result<()>,
) -> io::Result<ReplaySummary> {
    let mut it = read_log(dir, after_zxid)?;
    let mut s = ReplaySummary::default();
    for t in &mut it {
        let t = t?;
        s.count += 1;
        s.last_zxid = Some(t.entry.header.zxid);
        apply(t)?;
    }
    if let Some(tear) = it.tear().cloned() {
        truncate_tear(&tear)?;
        s.truncated = Some(tear);
    }
    Ok(s)
}

/// The zxid of the last complete entry in the logs of `dir`, if any
/// (`FileTxnLog.getLastLoggedZxid`).
pub fn last_logged_zxid(dir: &Path) -> io::Result<Option<i64>> {
    let logs = datadir::list_logs(dir)?;
    for f in logs.iter().rev() {
        let mut it = read_log_files(vec![f.clone()], -1, logs.last().map(|l| l.zxid));
        let mut last = None;
        for t in &mut it {
            last = Some(t?.entry.header.zxid);
        }
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

fn read_log_files(files: Vec<DataFile>, after: i64, last: Option<i64>) -> TxnLogIterator {
    TxnLogIterator {
        last_file_zxid: last,
        files: files.into_iter(),
        cur: None,
        after,
        tear: None,
        finished: false,
    }
}

/// Removes every logged txn with zxid > `zxid` (quorum TRUNC,
/// `FileTxnLog.truncate`): later files are deleted, the file holding `zxid`
/// is cut right after it. A damaged tail in that file goes too. Must not run
/// while a writer appends to these files (use
/// [`TxnLogWriter::truncate_after`]).
pub fn truncate_after(dir: &Path, zxid: i64) -> io::Result<()> {
    let logs = datadir::list_logs(dir)?;
    // Delete newest first so a crash part-way leaves a consistent prefix.
    for f in logs.iter().rev().filter(|f| f.zxid > zxid) {
        tracing::info!("truncate: removing {}", f.path.display());
        fs::remove_file(&f.path)?;
    }
    let Some(f) = logs.iter().rev().find(|f| f.zxid <= zxid) else {
        return datadir::sync_dir(dir);
    };
    let keep_to = match LogFile::open(f)? {
        Err(_) => 0,
        Ok(mut lf) => {
            let mut end = lf.pos;
            // Stop at the first entry past `zxid`, at the end, or at damage.
            while let Step::Entry { raw, .. } = lf.step()? {
                if txn_zxid(&raw).is_some_and(|z| z > zxid) {
                    break;
                }
                end = lf.pos;
            }
            end
        }
    };
    let file = OpenOptions::new().write(true).open(&f.path)?;
    let mut len = file.metadata()?.len();
    if keep_to < len {
        file.set_len(keep_to)?;
        len = keep_to;
    }
    file.sync_all()?;
    drop(file);
    if len <= HEADER_LEN {
        fs::remove_file(&f.path)?;
    }
    datadir::sync_dir(dir)
}

/// Reads the file header of a log (magic, version, dbid).
pub fn read_header(path: &Path) -> io::Result<(i32, i32, i64)> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(0))?;
    let mut h = [0u8; 16];
    f.read_exact(&mut h)?;
    let magic = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let version = i32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let mut d = [0u8; 8];
    d.copy_from_slice(&h[8..]);
    Ok((magic, version, i64::from_be_bytes(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkproto::consts::op;
    use zkproto::txn::{CreateSessionTxn, SetDataTxn, Txn, TxnDigest, TxnHeader};

    fn entry(zxid: i64, size: usize) -> TxnEntry {
        TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: zxid as i32,
                zxid,
                time: 1000 + zxid,
                op_type: op::SET_DATA,
            },
            txn: Txn::SetData {
                op_type: op::SET_DATA,
                txn: SetDataTxn {
                    path: "/x".into(),
                    data: Some(vec![7; size]),
                    version: zxid as i32,
                },
            },
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: zxid * 3,
            }),
        }
    }

    fn opts(prealloc: u64) -> TxnLogOptions {
        TxnLogOptions {
            prealloc_size: prealloc,
            force_sync: true,
            size_limit: None,
        }
    }

    fn zxids(dir: &Path, after: i64) -> Vec<i64> {
        read_log(dir, after)
            .unwrap()
            .map(|t| t.unwrap().entry.header.zxid)
            .collect()
    }

    #[test]
    fn padding_matches_zookeeper() {
        // Values from ZooKeeper's FilePaddingTest.
        assert_eq!(padded_size(0, 0, 64), 64);
        assert_eq!(padded_size(100, 0, 64), 128);
        assert_eq!(padded_size(10, 5000, 1000), 5000);
        assert_eq!(padded_size(4000, 5000, 1000), 6000);
        assert_eq!(padded_size(10, 0, 0), 0);
    }

    #[test]
    fn preallocation_grows_in_steps() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), opts(8192)).unwrap();
        w.append(&entry(1, 10)).unwrap();
        w.commit().unwrap();
        let p = d.path().join("log.1");
        // Like ZooKeeper's files (64 MiB + 16 bytes by default).
        assert_eq!(fs::metadata(&p).unwrap().len(), 8192 + 16);
        // Fill until the position comes within 4 KiB of the end.
        let mut z = 2;
        while w.current_size() + 4096 < 8192 + 16 {
            w.append(&entry(z, 500)).unwrap();
            z += 1;
        }
        w.commit().unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 8192 + 16);
        w.append(&entry(z, 10)).unwrap();
        w.commit().unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 16384 + 16);
        // An entry larger than the step overshoots; the next append re-pads
        // to a multiple of the step beyond the position.
        w.append(&entry(z + 1, 20000)).unwrap();
        w.append(&entry(z + 2, 1)).unwrap();
        w.commit().unwrap();
        let len = fs::metadata(&p).unwrap().len();
        assert_eq!(len % 8192, 0);
        assert!(len >= w.current_size());
        assert_eq!(zxids(d.path(), -1).len() as i64, z + 2);
        assert!(read_log(d.path(), -1).unwrap().all(|t| t.is_ok()));
        let mut it = read_log(d.path(), -1).unwrap();
        for t in &mut it {
            t.unwrap();
        }
        assert!(it.tear().is_none(), "preallocated zeros are not a tear");
    }

    #[test]
    fn nothing_visible_before_commit_and_roll_starts_new_file() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), opts(4096)).unwrap();
        for z in 1..=3 {
            w.append(&entry(z, 10)).unwrap();
        }
        assert_eq!(w.uncommitted(), 3);
        // Appends are buffered: the file holds nothing readable yet.
        assert!(zxids(d.path(), -1).is_empty());
        w.commit().unwrap();
        assert_eq!(w.uncommitted(), 0);
        assert_eq!(zxids(d.path(), -1), vec![1, 2, 3]);
        w.roll().unwrap();
        w.append(&entry(4, 10)).unwrap();
        w.append(&entry(5, 10)).unwrap();
        w.commit().unwrap();
        w.roll().unwrap();
        w.roll().unwrap(); // no-op without a current file
        w.append(&entry(6, 10)).unwrap();
        w.close().unwrap();
        let names: Vec<i64> = datadir::list_logs(d.path())
            .unwrap()
            .iter()
            .map(|f| f.zxid)
            .collect();
        assert_eq!(names, vec![1, 4, 6]);
        assert_eq!(
            read_header(&d.path().join("log.4")).unwrap(),
            (TXNLOG_MAGIC, 2, 0)
        );
        assert_eq!(zxids(d.path(), -1), vec![1, 2, 3, 4, 5, 6]);
        // Reading after Z starts at the newest file starting at or before Z.
        assert_eq!(zxids(d.path(), 4), vec![5, 6]);
        assert_eq!(zxids(d.path(), 3), vec![4, 5, 6]);
        assert_eq!(zxids(d.path(), 9), Vec::<i64>::new());
        assert_eq!(last_logged_zxid(d.path()).unwrap(), Some(6));
    }

    #[test]
    fn size_limit_rolls_at_commit() {
        let d = tempfile::tempdir().unwrap();
        let mut o = opts(4096);
        o.size_limit = Some(200);
        let mut w = TxnLogWriter::open(d.path(), o).unwrap();
        for z in 1..=6 {
            w.append(&entry(z, 100)).unwrap();
            w.commit().unwrap();
        }
        assert_eq!(datadir::list_logs(d.path()).unwrap().len(), 3);
        assert_eq!(zxids(d.path(), -1), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn checksum_in_older_file_is_an_error_but_in_last_is_a_tear() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), opts(4096)).unwrap();
        for z in 1..=3 {
            w.append(&entry(z, 10)).unwrap();
        }
        w.roll().unwrap();
        for z in 4..=6 {
            w.append(&entry(z, 10)).unwrap();
        }
        w.close().unwrap();
        let corrupt = |name: &str| {
            let p = d.path().join(name);
            let mut b = fs::read(&p).unwrap();
            // Second entry's txn bytes: header 16 + first entry.
            let first = 13 + i32::from_be_bytes([b[24], b[25], b[26], b[27]]) as usize;
            b[16 + first + 30] ^= 1;
            fs::write(&p, b).unwrap();
        };
        corrupt("log.4");
        let mut it = read_log(d.path(), -1).unwrap();
        let got: Vec<i64> = (&mut it).map(|t| t.unwrap().entry.header.zxid).collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
        let tear = it.tear().unwrap().clone();
        assert!(matches!(tear.damage, Damage::ChecksumMismatch { .. }));
        assert_eq!(tear.last_good_zxid, Some(4));
        corrupt("log.1");
        let res: Vec<_> = read_log(d.path(), -1).unwrap().collect();
        assert_eq!(res.len(), 2);
        assert!(res[1].is_err());
        // Reading only from the last file does not touch the bad old one.
        assert_eq!(zxids(d.path(), 4), Vec::<i64>::new());
    }

    #[test]
    fn truncate_after_keeps_prefix() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), opts(4096)).unwrap();
        for z in 1..=10 {
            if z == 4 || z == 8 {
                w.roll().unwrap();
            }
            w.append(&entry(z, 10)).unwrap();
        }
        w.commit().unwrap();
        w.truncate_after(5).unwrap();
        assert_eq!(zxids(d.path(), -1), vec![1, 2, 3, 4, 5]);
        assert!(!d.path().join("log.8").exists());
        // The writer carries on in a new file.
        w.append(&entry(6, 1)).unwrap();
        w.commit().unwrap();
        assert_eq!(zxids(d.path(), -1), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(w.current_path(), Some(d.path().join("log.6").as_path()));
        truncate_after(d.path(), 3).unwrap();
        assert_eq!(zxids(d.path(), -1), vec![1, 2, 3]);
        // Truncating before the first entry of a file removes the file.
        truncate_after(d.path(), 0).unwrap();
        assert!(datadir::list_logs(d.path()).unwrap().is_empty());
    }

    #[test]
    fn failed_writer_refuses_appends() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), opts(0)).unwrap();
        w.append(&entry(1, 10)).unwrap();
        w.commit().unwrap();
        // Simulate an I/O error by swapping the file for a read-only handle.
        if let Some(log) = w.cur.as_mut() {
            log.file = File::open(&log.path).unwrap();
        }
        w.append(&entry(2, 10)).unwrap();
        assert!(w.commit().is_err());
        assert!(w.is_failed());
        assert!(w.append(&entry(3, 10)).is_err());
        assert!(w.commit().is_err());
        assert!(w.roll().is_err());
        assert_eq!(zxids(d.path(), -1), vec![1]);
        // A new writer works again.
        let mut w = TxnLogWriter::open(d.path(), opts(0)).unwrap();
        w.append(&entry(2, 10)).unwrap();
        w.commit().unwrap();
        assert_eq!(zxids(d.path(), -1), vec![1, 2]);
    }

    #[test]
    fn raw_append_and_old_style_entries() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), opts(4096)).unwrap();
        assert!(w.append_raw(&[0; 10]).is_err());
        let e = TxnEntry {
            header: TxnHeader {
                client_id: 5,
                cxid: 0,
                zxid: 7,
                time: 1,
                op_type: op::CREATE_SESSION,
            },
            txn: Txn::CreateSession(CreateSessionTxn { time_out: 30000 }),
            digest: None,
        };
        w.append_raw(&e.encode()).unwrap();
        w.close().unwrap();
        let t: Vec<LoggedTxn> = read_log(d.path(), -1)
            .unwrap()
            .map(|t| t.unwrap())
            .collect();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].entry, e);
        assert_eq!(t[0].raw, e.encode());
        assert_eq!(t[0].offset, HEADER_LEN);
        assert!(d.path().join("log.7").exists());
    }
}
