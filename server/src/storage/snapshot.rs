//! ZooKeeper snapshot files (`snapshot.<hex zxid>`), byte-compatible with
//! ZooKeeper 3.8 (and readable by 3.5–3.9).
//!
//! Layout (all jute, big-endian, under one running Adler32):
//!
//! ```text
//! FileHeader        magic "ZKSN", version 2, dbid -1
//! sessions          count:int, count × (id:long, timeout:int)
//! ACL cache         count:int, count × (aclId:long, vector<ACL>)
//! nodes             (path:ustring, data:buffer, aclId:long, StatPersisted)*
//!                   parents before children; the root's path is ""
//! terminator        path "/"
//! seal              Adler32 of every byte so far (long), then string "/"
//! [ZxidDigest]      zxid:long, digestVersion:int, digest:long, then a seal
//! [lastProcessed]   zxid:long, then a seal (3.9+)
//! ```
//!
//! The checksum covers the seals before it (it is a checksummed *stream*),
//! so every seal also protects the earlier ones.
//!
//! Compatibility of the trailers, from ZooKeeper's sources: 3.5 stops after
//! the first seal; 3.6–3.8 read the digest record and its seal and ignore
//! anything after it; 3.9 reads all three. So writing the 3.9
//! lastProcessedZxid trailer is safe for 3.8 (verified by loading our files
//! into a real 3.8 server in `tests/storage_compat.rs`). The lastProcessedZxid
//! trailer is only written together with a digest record (3.9 writes an
//! empty one, zxid 0, when it has none), because a 3.6+ reader would parse it
//! as a digest otherwise.
//!
//! Reading is streaming: [`SnapshotReader`] hands out sessions, the ACL map
//! and then one node at a time, so a million-node tree is never held twice.
//! The flip side is that the checksum is only known at the end: a caller that
//! builds its tree while reading must throw the tree away if
//! [`SnapshotReader::finish`] fails ([`load_newest`] does the retry dance).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use zkproto::jute::{Jute, Writer};
use zkproto::records::{Acl, StatPersisted};

use crate::storage::datadir::{self, SnapCompression};

/// `"ZKSN"` as a big-endian int (`FileSnap.SNAP_MAGIC`).
pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
/// File format version in the header.
pub const SNAP_VERSION: i32 = 2;
/// dbid written in snapshot headers (ZooKeeper never sets it; readers ignore it).
pub const SNAP_DBID: i64 = -1;
/// The ACL id of `OPEN_ACL_UNSAFE`, implied and never stored in the map.
pub const OPEN_ACL_UNSAFE_ID: i64 = -1;
/// How many of the newest snapshots passing the quick check recovery tries
/// (`FileSnap.deserialize`).
pub const MAX_SNAPSHOT_CANDIDATES: usize = 100;
/// Largest string or buffer we accept while reading. ZooKeeper bounds these
/// by jute.maxbuffer (1 MiB by default, configurable); we are generous since
/// the checksum, not this limit, is what detects corruption. Reads allocate
/// as bytes arrive, so a corrupt length cannot allocate more than the file.
pub const MAX_FIELD_LEN: usize = 256 * 1024 * 1024;

/// The signature that ends the snapshot body sent in a quorum SNAP sync.
pub const QUORUM_SNAP_SIGNATURE: &str = "BenWasHere";

/// `DataTree.ZxidDigest`: the tree digest as of `zxid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub digest_version: i32,
    pub digest: i64,
}

/// The optional records after the first seal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotTrailer {
    /// The tree digest at `zxid`. When reading, an empty record (zxid ≤ 0)
    /// is reported as `None`, as ZooKeeper does.
    pub digest: Option<ZxidDigest>,
    /// 3.9+: the last zxid applied when the snapshot finished.
    pub last_processed_zxid: Option<i64>,
}

/// One znode as stored in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotNode {
    /// Full path; the root is `""` (as stored).
    pub path: String,
    /// `None` is null data (distinct from empty).
    pub data: Option<Vec<u8>>,
    /// Key into the ACL map; [`OPEN_ACL_UNSAFE_ID`] for `world:anyone:cdrwa`
    /// without a map entry.
    pub acl_id: i64,
    pub stat: StatPersisted,
}

fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// A writer that keeps the Adler32 of everything written through it
/// (`java.util.zip.CheckedOutputStream`).
struct CheckedWriter<W: Write> {
    inner: W,
    adler: adler2::Adler32,
}

impl<W: Write> CheckedWriter<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.adler.write_slice(b);
        self.inner.write_all(b)
    }
    fn checksum(&self) -> i64 {
        i64::from(self.adler.checksum())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum WStage {
    Sessions,
    Acls,
    Nodes,
    Done,
}

/// Encodes the snapshot body (and, for files, header and seals) to any
/// writer, in order: [`sessions`](Self::sessions), [`acls`](Self::acls),
/// [`node`](Self::node)…, then [`end_nodes`](Self::end_nodes).
///
/// Used directly (without header and seals) it produces the body of a
/// quorum SNAP sync, to be followed by the string [`QUORUM_SNAP_SIGNATURE`].
/// Calling the steps out of order is an `InvalidInput` error.
pub struct SnapshotEncoder<W: Write> {
    out: CheckedWriter<W>,
    stage: WStage,
    scratch: Writer,
    nodes: u64,
}

impl<W: Write> SnapshotEncoder<W> {
    /// An encoder that writes the body only (no file header).
    pub fn new(w: W) -> Self {
        SnapshotEncoder {
            out: CheckedWriter {
                inner: w,
                adler: adler2::Adler32::new(),
            },
            stage: WStage::Sessions,
            scratch: Writer::with_capacity(256),
            nodes: 0,
        }
    }

    /// An encoder that starts with the `ZKSN` file header.
    pub fn with_file_header(w: W) -> io::Result<Self> {
        let mut e = Self::new(w);
        let mut h = Writer::with_capacity(16);
        h.write_i32(SNAP_MAGIC);
        h.write_i32(SNAP_VERSION);
        h.write_i64(SNAP_DBID);
        e.out.put(&h.buf)?;
        Ok(e)
    }

    fn expect(&self, stage: WStage, what: &str) -> io::Result<()> {
        if self.stage != stage {
            return Err(invalid_input(format!(
                "snapshot {what} written out of order (at {:?})",
                self.stage
            )));
        }
        Ok(())
    }

    fn flush_scratch(&mut self) -> io::Result<()> {
        let res = self.out.put(&self.scratch.buf);
        self.scratch.buf.clear();
        res
    }

    /// Writes the session table: (session id, timeout ms) pairs.
    pub fn sessions<I>(&mut self, sessions: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (i64, i32)>,
        I::IntoIter: ExactSizeIterator,
    {
        self.expect(WStage::Sessions, "sessions")?;
        let it = sessions.into_iter();
        let n = i32::try_from(it.len()).map_err(|_| invalid_input("too many sessions"))?;
        self.scratch.write_i32(n);
        let mut written = 0i32;
        for (id, timeout) in it {
            written += 1;
            self.scratch.write_i64(id);
            self.scratch.write_i32(timeout);
            if self.scratch.buf.len() >= 64 * 1024 {
                self.flush_scratch()?;
            }
        }
        if written != n {
            return Err(invalid_input("session iterator lied about its length"));
        }
        self.flush_scratch()?;
        self.stage = WStage::Acls;
        Ok(())
    }

    /// Writes the ACL map: (id, list) pairs. Id -1 ([`OPEN_ACL_UNSAFE_ID`])
    /// must not be included: it is implied.
    pub fn acls<'a, I>(&mut self, acls: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (i64, &'a [Acl])>,
        I::IntoIter: ExactSizeIterator,
    {
        self.expect(WStage::Acls, "ACL map")?;
        let it = acls.into_iter();
        let n = i32::try_from(it.len()).map_err(|_| invalid_input("too many ACL lists"))?;
        self.scratch.write_i32(n);
        let mut written = 0i32;
        for (id, list) in it {
            if id == OPEN_ACL_UNSAFE_ID {
                self.scratch.buf.clear();
                return Err(invalid_input("ACL id -1 (OPEN_ACL_UNSAFE) is never stored"));
            }
            written += 1;
            self.scratch.write_i64(id);
            self.scratch.write_i32(list.len() as i32);
            for a in list {
                a.write(&mut self.scratch);
            }
            if self.scratch.buf.len() >= 64 * 1024 {
                self.flush_scratch()?;
            }
        }
        if written != n {
            return Err(invalid_input("ACL iterator lied about its length"));
        }
        self.flush_scratch()?;
        self.stage = WStage::Nodes;
        Ok(())
    }

    /// Writes one znode. Parents must come before their children (ZooKeeper
    /// rejects the file otherwise); ZooKeeper itself writes a pre-order DFS.
    /// The root may be given as `"/"` or `""`; it is stored as `""`.
    pub fn node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_id: i64,
        stat: &StatPersisted,
    ) -> io::Result<()> {
        self.expect(WStage::Nodes, "node")?;
        let path = if path == "/" { "" } else { path };
        self.scratch.write_string(path);
        self.scratch.write_buffer(data);
        self.scratch.write_i64(acl_id);
        stat.write(&mut self.scratch);
        self.nodes += 1;
        self.flush_scratch()
    }

    /// Writes nodes already encoded by [`EncodedNodes`] (the same bytes
    /// [`node`](Self::node) would write, in the same order).
    pub fn encoded_nodes(&mut self, nodes: &EncodedNodes) -> io::Result<()> {
        self.expect(WStage::Nodes, "node")?;
        self.nodes += nodes.count;
        self.out.put(&nodes.w.buf)
    }

    /// Number of nodes written so far.
    pub fn node_count(&self) -> u64 {
        self.nodes
    }

    /// Writes the `"/"` terminator that ends the node list.
    pub fn end_nodes(&mut self) -> io::Result<()> {
        self.expect(WStage::Nodes, "end of nodes")?;
        self.scratch.write_string("/");
        self.flush_scratch()?;
        self.stage = WStage::Done;
        Ok(())
    }

    /// Writes a seal: the checksum of everything so far, then `"/"`
    /// (`SnapStream.sealStream`).
    pub fn seal(&mut self) -> io::Result<()> {
        let sum = self.out.checksum();
        self.scratch.write_i64(sum);
        self.scratch.write_string("/");
        self.flush_scratch()
    }

    /// Writes the optional trailer records, each followed by its seal.
    fn trailer(&mut self, t: &SnapshotTrailer) -> io::Result<()> {
        let digest = match (t.digest, t.last_processed_zxid) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => Some(ZxidDigest {
                zxid: 0,
                digest_version: crate::storage::digest::DIGEST_VERSION,
                digest: 0,
            }),
            (None, None) => None,
        };
        if let Some(d) = digest {
            if d.digest_version < 2 {
                return Err(invalid_input("only digest version 2+ can be written"));
            }
            self.scratch.write_i64(d.zxid);
            self.scratch.write_i32(d.digest_version);
            self.scratch.write_i64(d.digest);
            self.flush_scratch()?;
            self.seal()?;
        }
        if let Some(z) = t.last_processed_zxid {
            self.scratch.write_i64(z);
            self.flush_scratch()?;
            self.seal()?;
        }
        Ok(())
    }

    /// Writes the string `s` (e.g. [`QUORUM_SNAP_SIGNATURE`]).
    pub fn write_string(&mut self, s: &str) -> io::Result<()> {
        self.scratch.write_string(s);
        self.flush_scratch()
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out.inner
    }
}

/// Writes `snapshot.<hex zxid>` into a `version-2` directory.
///
/// A slice of the tree's nodes encoded as a snapshot stores them, built by
/// the pipeline as it walks the tree and written as is by the snapshot
/// thread ([`SnapshotWriter::encoded_nodes`]).
///
/// Why one buffer rather than a copy of each node: the copies were
/// allocated on the pipeline thread and freed on the snapshot thread, two
/// small allocations per znode, and glibc's allocator serializes frees of
/// another thread's memory on that arena's lock; a low-priority snapshot
/// thread preempted while holding it stalled the pipeline's own allocations
/// (a paced-write p99 of 40-100 ms during snapshots of a 500,000-znode
/// tree). One buffer per slice is one allocation and one free.
#[derive(Default)]
pub struct EncodedNodes {
    w: Writer,
    count: u64,
}

impl EncodedNodes {
    pub fn with_capacity(bytes: usize) -> EncodedNodes {
        EncodedNodes {
            w: Writer::with_capacity(bytes),
            count: 0,
        }
    }

    /// Appends the node at `parent`/`name` (`parent` "" and `name` "" for
    /// the root, which the snapshot stores as "").
    pub fn push(
        &mut self,
        parent: &str,
        name: &str,
        data: Option<&[u8]>,
        acl_id: i64,
        stat: &StatPersisted,
    ) {
        let (parent, sep) = match parent {
            "" => ("", ""),
            "/" => ("", "/"),
            p => (p, "/"),
        };
        let len = parent.len() + sep.len() + name.len();
        self.w.write_i32(i32::try_from(len).unwrap_or(i32::MAX));
        self.w.buf.extend_from_slice(parent.as_bytes());
        self.w.buf.extend_from_slice(sep.as_bytes());
        self.w.buf.extend_from_slice(name.as_bytes());
        self.w.write_buffer(data);
        self.w.write_i64(acl_id);
        stat.write(&mut self.w);
        self.count += 1;
    }

    /// Number of nodes in the slice.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded bytes so far.
    pub fn byte_len(&self) -> usize {
        self.w.buf.len()
    }
}

/// How much snapshot data may be dirty or in flight before the writer waits
/// for it to reach the disk (see [`WritebackFile`]).
const WRITEBACK_CHUNK: u64 = 4 << 20;

/// A file written front to back whose data is pushed to the disk every
/// [`WRITEBACK_CHUNK`] bytes (`sync_file_range`: start writing this chunk,
/// wait for the one before), instead of piling up in the page cache until
/// the final fsync.
///
/// Why: the txn log fdatasyncs every group commit, and each of those
/// flushes the disk's write cache, which must first take whatever else was
/// written since. A snapshot of a big tree left to the page cache goes out
/// in one burst (background writeback, then the final fsync) and the log's
/// syncs queue behind it: measured with `zkbench fsync-probe --beside-mib`
/// on this machine's disk, a 75 MiB snapshot-sized file written beside the
/// log made its worst fdatasync 35-40 ms, and 19-20 ms with 1-4 MiB chunks.
/// With at most two chunks outstanding a log sync waits for a few MiB at
/// most. The final `sync_all` still makes the whole file durable.
pub struct WritebackFile {
    file: File,
    written: u64,
    /// Start of the chunk whose writeback was started and not yet waited for.
    started: u64,
    /// End of that chunk (= start of the bytes not yet handed to writeback).
    queued: u64,
}

impl WritebackFile {
    pub fn new(file: File) -> WritebackFile {
        WritebackFile {
            file,
            written: 0,
            started: 0,
            queued: 0,
        }
    }

    pub fn into_file(self) -> File {
        self.file
    }

    #[cfg(target_os = "linux")]
    fn push(&mut self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let range = |flags, from: u64, to: u64| {
            // SAFETY: a plain syscall on a file descriptor we own.
            let rc = unsafe {
                libc::sync_file_range(
                    fd,
                    from as libc::off64_t,
                    (to - from) as libc::off64_t,
                    flags,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        range(libc::SYNC_FILE_RANGE_WRITE, self.queued, self.written)?;
        if self.queued > self.started {
            range(
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                self.started,
                self.queued,
            )?;
        }
        self.started = self.queued;
        self.queued = self.written;
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn push(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for WritebackFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.queued >= WRITEBACK_CHUNK {
            self.push()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The bytes go to a hidden temporary file (`.snapshot.<hex>.tmp`, a name
/// neither we nor ZooKeeper take for a snapshot); [`finish`](Self::finish)
/// seals, fsyncs, renames it into place and fsyncs the directory. Dropping
/// an unfinished writer removes the temporary file, so a failed snapshot
/// never shadows the previous good one.
pub struct SnapshotWriter {
    enc: Option<SnapshotEncoder<BufWriter<WritebackFile>>>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl SnapshotWriter {
    /// Starts `dir/snapshot.<hex zxid>`; `zxid` is the last zxid applied
    /// when the snapshot starts (the name recovery replays from).
    pub fn create(dir: &Path, zxid: i64) -> io::Result<SnapshotWriter> {
        let name = datadir::snapshot_file_name(zxid);
        let tmp = dir.join(format!(".{name}.tmp"));
        let dest = dir.join(name);
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = SnapshotWriter {
            enc: None,
            tmp,
            dest,
        };
        w.enc = Some(SnapshotEncoder::with_file_header(
            BufWriter::with_capacity(256 * 1024, WritebackFile::new(f)),
        )?);
        Ok(w)
    }

    fn enc(&mut self) -> io::Result<&mut SnapshotEncoder<BufWriter<WritebackFile>>> {
        self.enc
            .as_mut()
            .ok_or_else(|| invalid_input("snapshot writer already finished"))
    }

    /// See [`SnapshotEncoder::sessions`].
    pub fn sessions<I>(&mut self, sessions: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (i64, i32)>,
        I::IntoIter: ExactSizeIterator,
    {
        self.enc()?.sessions(sessions)
    }

    /// See [`SnapshotEncoder::acls`].
    pub fn acls<'a, I>(&mut self, acls: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (i64, &'a [Acl])>,
        I::IntoIter: ExactSizeIterator,
    {
        self.enc()?.acls(acls)
    }

    /// See [`SnapshotEncoder::node`].
    pub fn node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl_id: i64,
        stat: &StatPersisted,
    ) -> io::Result<()> {
        self.enc()?.node(path, data, acl_id, stat)
    }

    /// See [`SnapshotEncoder::encoded_nodes`].
    pub fn encoded_nodes(&mut self, nodes: &EncodedNodes) -> io::Result<()> {
        self.enc()?.encoded_nodes(nodes)
    }

    /// The final path (`dir/snapshot.<hex>`).
    pub fn path(&self) -> &Path {
        &self.dest
    }

    /// Ends the node list, writes the seal and the trailer, fsyncs and
    /// renames the file into place. Returns the final path.
    ///
    /// For ZooKeeper parity pass the digest when the tree keeps one
    /// (`digest.zxid` = the zxid the digest belongs to; 3.8 compares it with
    /// its own tree only when it equals the snapshot's name zxid).
    pub fn finish(mut self, trailer: SnapshotTrailer) -> io::Result<PathBuf> {
        let mut enc = self
            .enc
            .take()
            .ok_or_else(|| invalid_input("snapshot writer already finished"))?;
        enc.end_nodes()?;
        enc.seal()?;
        enc.trailer(&trailer)?;
        let f = enc
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?
            .into_file();
        f.sync_all()?;
        drop(f);
        fs::rename(&self.tmp, &self.dest)?;
        if let Some(dir) = self.dest.parent() {
            datadir::sync_dir(dir)?;
        }
        Ok(self.dest.clone())
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // Not renamed yet (unfinished or failed): the temp file is garbage.
        if self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// A reader that keeps the Adler32 of everything consumed through it
/// (`java.util.zip.CheckedInputStream`).
struct CheckedReader<R: Read> {
    inner: R,
    adler: adler2::Adler32,
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.adler.write_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> CheckedReader<R> {
    fn checksum(&self) -> i64 {
        i64::from(self.adler.checksum())
    }
    fn i32(&mut self) -> io::Result<i32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(i32::from_be_bytes(b))
    }
    fn i64(&mut self) -> io::Result<i64> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(i64::from_be_bytes(b))
    }
    /// A jute buffer; `None` for the -1 null marker.
    fn buffer(&mut self, what: &str) -> io::Result<Option<Vec<u8>>> {
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 || n as usize > MAX_FIELD_LEN {
            return Err(invalid_data(format!("unreasonable {what} length {n}")));
        }
        let mut v = Vec::new();
        (&mut *self).take(n as u64).read_to_end(&mut v)?;
        if v.len() != n as usize {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("snapshot ended inside a {what}"),
            ));
        }
        Ok(Some(v))
    }
    fn string(&mut self, what: &str) -> io::Result<Option<String>> {
        match self.buffer(what)? {
            None => Ok(None),
            Some(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| invalid_data(format!("{what} is not UTF-8"))),
        }
    }
    fn acl(&mut self) -> io::Result<Acl> {
        let perms = self.i32()?;
        let scheme = self.string("ACL scheme")?.unwrap_or_default();
        let id = self.string("ACL id")?.unwrap_or_default();
        Ok(Acl::new(perms, &scheme, &id))
    }
    fn stat(&mut self) -> io::Result<StatPersisted> {
        let mut b = [0u8; 60];
        self.read_exact(&mut b)?;
        StatPersisted::from_bytes(&b).map_err(|e| invalid_data(e.to_string()))
    }
    /// Reads a seal and compares it with the checksum of everything before it.
    fn check_seal(&mut self) -> io::Result<()> {
        let expect = self.checksum();
        let val = self.i64()?;
        // ZooKeeper reads and ignores the "/" after the value; we insist on
        // it, since nothing else covers the final seal's own bytes.
        let slash = self.string("seal")?;
        if slash.as_deref() != Some("/") {
            return Err(invalid_data("snapshot seal is not followed by \"/\""));
        }
        if val != expect {
            return Err(invalid_data(format!(
                "CRC corruption: snapshot seal {val:#x} != computed {expect:#x}"
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RStage {
    Sessions,
    Acls,
    Nodes,
    Trailer,
    Finished,
}

/// Streaming snapshot decoder: [`sessions`](Self::sessions),
/// [`acls`](Self::acls), then [`next_node`](Self::next_node) until `None`,
/// then [`finish`](Self::finish) to verify the checksum and read the
/// trailer. Skipped steps are read and discarded, so `finish` alone verifies
/// a whole file.
pub struct SnapshotReader<R: Read> {
    r: CheckedReader<R>,
    stage: RStage,
    with_seals: bool,
}

/// The reader type [`SnapshotReader::open`] returns.
pub type FileSnapshotReader = SnapshotReader<Box<dyn Read + Send>>;

impl<R: Read> SnapshotReader<R> {
    /// Reads a snapshot file's stream: checks the `ZKSN` header.
    pub fn from_file_stream(r: R) -> io::Result<Self> {
        let mut s = SnapshotReader {
            r: CheckedReader {
                inner: r,
                adler: adler2::Adler32::new(),
            },
            stage: RStage::Sessions,
            with_seals: true,
        };
        let magic = s.r.i32()?;
        let _version = s.r.i32()?;
        let _dbid = s.r.i64()?;
        if magic != SNAP_MAGIC {
            return Err(invalid_data(format!(
                "mismatching magic headers {magic} != {SNAP_MAGIC}"
            )));
        }
        Ok(s)
    }

    /// Reads a bare snapshot body (quorum SNAP sync): no header, no seals;
    /// `finish` stops after the node terminator.
    pub fn from_body_stream(r: R) -> Self {
        SnapshotReader {
            r: CheckedReader {
                inner: r,
                adler: adler2::Adler32::new(),
            },
            stage: RStage::Sessions,
            with_seals: false,
        }
    }

    fn skip_to(&mut self, stage: RStage) -> io::Result<()> {
        if self.stage == RStage::Sessions && stage > RStage::Sessions {
            self.sessions()?;
        }
        if self.stage == RStage::Acls && stage > RStage::Acls {
            self.acls()?;
        }
        if self.stage == RStage::Nodes && stage > RStage::Nodes {
            while self.next_node()?.is_some() {}
        }
        if self.stage != stage {
            return Err(invalid_input(format!(
                "snapshot read out of order: at {:?}, wanted {stage:?}",
                self.stage
            )));
        }
        Ok(())
    }

    /// The session table: (session id, timeout ms).
    pub fn sessions(&mut self) -> io::Result<Vec<(i64, i32)>> {
        self.skip_to(RStage::Sessions)?;
        let n = self.r.i32()?;
        if n < 0 {
            return Err(invalid_data(format!("negative session count {n}")));
        }
        let mut v = Vec::with_capacity((n as usize).min(1 << 16));
        for _ in 0..n {
            let id = self.r.i64()?;
            let to = self.r.i32()?;
            v.push((id, to));
        }
        self.stage = RStage::Acls;
        Ok(v)
    }

    /// The ACL map: (id, list). Never contains id -1 in files ZooKeeper
    /// wrote; nodes may still refer to -1 (`OPEN_ACL_UNSAFE`).
    pub fn acls(&mut self) -> io::Result<Vec<(i64, Vec<Acl>)>> {
        self.skip_to(RStage::Acls)?;
        let n = self.r.i32()?;
        if n < 0 {
            return Err(invalid_data(format!("negative ACL map size {n}")));
        }
        let mut v = Vec::with_capacity((n as usize).min(1 << 16));
        for _ in 0..n {
            let id = self.r.i64()?;
            let cnt = self.r.i32()?;
            if cnt < 0 {
                return Err(invalid_data("missing acls in ACL map entry"));
            }
            let mut list = Vec::with_capacity((cnt as usize).min(64));
            for _ in 0..cnt {
                list.push(self.r.acl()?);
            }
            v.push((id, list));
        }
        self.stage = RStage::Nodes;
        Ok(v)
    }

    /// The next znode, or `None` after the `"/"` terminator.
    pub fn next_node(&mut self) -> io::Result<Option<SnapshotNode>> {
        if self.stage >= RStage::Trailer {
            return Ok(None);
        }
        self.skip_to(RStage::Nodes)?;
        let path = self
            .r
            .string("path")?
            .ok_or_else(|| invalid_data("null path in snapshot"))?;
        if path == "/" {
            self.stage = RStage::Trailer;
            return Ok(None);
        }
        let data = self.r.buffer("data")?;
        let acl_id = self.r.i64()?;
        let stat = self.r.stat()?;
        Ok(Some(SnapshotNode {
            path,
            data,
            acl_id,
            stat,
        }))
    }

    /// Reads whatever is left of the body, verifies the seal(s) and returns
    /// the trailer. For a body stream, just consumes the remaining nodes.
    pub fn finish(&mut self) -> io::Result<SnapshotTrailer> {
        self.skip_to(RStage::Trailer)?;
        self.stage = RStage::Finished;
        let mut t = SnapshotTrailer::default();
        if !self.with_seals {
            return Ok(t);
        }
        self.r.check_seal()?;
        // The digest record is optional: EOF anywhere inside it means
        // "absent" (DataTree.deserializeZxidDigest); its seal is not.
        let Some(d) = self.optional(|r| {
            let zxid = r.i64()?;
            let digest_version = r.i32()?;
            let digest = if digest_version < 2 {
                // Digest version 1 stored the digest as a hex string.
                let s = r.string("digest")?.unwrap_or_default();
                u64::from_str_radix(&s, 16).map(|v| v as i64).unwrap_or(0)
            } else {
                r.i64()?
            };
            Ok(ZxidDigest {
                zxid,
                digest_version,
                digest,
            })
        })?
        else {
            return Ok(t);
        };
        self.r.check_seal()?;
        if d.zxid > 0 {
            t.digest = Some(d);
        }
        if let Some(z) = self.optional(|r| r.i64())? {
            self.r.check_seal()?;
            t.last_processed_zxid = Some(z);
        }
        Ok(t)
    }

    /// Reads one string after the body (the SNAP signature).
    pub fn read_string(&mut self) -> io::Result<String> {
        Ok(self.r.string("signature")?.unwrap_or_default())
    }

    fn optional<T>(
        &mut self,
        f: impl FnOnce(&mut CheckedReader<R>) -> io::Result<T>,
    ) -> io::Result<Option<T>> {
        match f(&mut self.r) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl FileSnapshotReader {
    /// Opens a snapshot file (uncompressed; `.gz`/`.snappy` files are
    /// reported as `Unsupported`) and checks its header.
    pub fn open(path: &Path) -> io::Result<FileSnapshotReader> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let comp = datadir::parse_snapshot_name(name)
            .map(|(_, c)| c)
            .unwrap_or(SnapCompression::None);
        if comp != SnapCompression::None {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("compressed snapshot {} is not supported", path.display()),
            ));
        }
        let f = File::open(path)?;
        let r: Box<dyn Read + Send> = Box::new(BufReader::with_capacity(256 * 1024, f));
        SnapshotReader::from_file_stream(r)
    }
}

/// ZooKeeper's quick validity check (`SnapStream.isValidSnapshot`): the name
/// parses as a snapshot and, uncompressed, the file is at least 10 bytes
/// long and ends with `00 00 00 01 2F` (every seal ends with the string
/// `"/"`). Compressed files only get their magic checked.
pub fn quick_check(path: &Path) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((_, comp)) = datadir::parse_snapshot_name(name) else {
        return Ok(false);
    };
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let magic: &[u8] = match comp {
        SnapCompression::Gzip => &[0x1f, 0x8b],
        SnapCompression::Snappy => &[0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0],
        SnapCompression::None => {
            let len = f.metadata()?.len();
            if len < 10 {
                return Ok(false);
            }
            f.seek(SeekFrom::Start(len - 5))?;
            let mut tail = [0u8; 5];
            f.read_exact(&mut tail)?;
            return Ok(tail == [0, 0, 0, 1, b'/']);
        }
    };
    let mut head = vec![0u8; magic.len()];
    match f.read_exact(&mut head) {
        Ok(()) => Ok(head == magic),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads a whole snapshot file without keeping anything, verifying every
/// seal. Returns the trailer.
pub fn verify(path: &Path) -> io::Result<SnapshotTrailer> {
    FileSnapshotReader::open(path)?.finish()
}

/// Up to `n` snapshots of `dir` that pass [`quick_check`], newest first
/// (`FileSnap.findNValidSnapshots`).
pub fn find_valid_snapshots(dir: &Path, n: usize) -> io::Result<Vec<datadir::DataFile>> {
    let mut out = Vec::new();
    for f in datadir::list_snapshots(dir)?.into_iter().rev() {
        if out.len() == n {
            break;
        }
        match quick_check(&f.path) {
            Ok(true) => out.push(f),
            Ok(false) => tracing::warn!(
                "skipping snapshot {}: it does not end with a valid seal (torn or damaged)",
                f.path.display()
            ),
            Err(e) => tracing::warn!("invalid snapshot {}: {e}", f.path.display()),
        }
    }
    Ok(out)
}

/// A snapshot that [`load_newest`] loaded and verified.
#[derive(Debug)]
pub struct LoadedSnapshot<T> {
    /// The zxid in the file name: replay the logs from the next zxid.
    pub zxid: i64,
    pub path: PathBuf,
    /// What the caller's loader returned.
    pub value: T,
    pub trailer: SnapshotTrailer,
}

/// Recovery's snapshot step (`FileSnap.deserialize`): takes the newest (up to
/// [`MAX_SNAPSHOT_CANDIDATES`]) snapshots in `dir` that pass [`quick_check`],
/// newest first, and runs `load` on each until one loads and its checksum
/// verifies. `load` should build a *fresh* tree from the reader each time it
/// is called (anything it built from a file that then failed must be
/// discarded); whatever it does not read is read and verified after it.
///
/// Returns `Ok(None)` when there is no candidate at all (empty database), and
/// an error when candidates exist but none verifies, like ZooKeeper
/// ("Not able to find valid snapshots"). Each failure is logged as a warning.
pub fn load_newest<T>(
    dir: &Path,
    mut load: impl FnMut(&mut FileSnapshotReader) -> io::Result<T>,
) -> io::Result<Option<LoadedSnapshot<T>>> {
    let candidates = find_valid_snapshots(dir, MAX_SNAPSHOT_CANDIDATES)?;
    for f in &candidates {
        tracing::info!("Reading snapshot {}", f.path.display());
        let attempt = (|| {
            let mut r = FileSnapshotReader::open(&f.path)?;
            let value = load(&mut r)?;
            let trailer = r.finish()?;
            Ok::<_, io::Error>((value, trailer))
        })();
        match attempt {
            Ok((value, trailer)) => {
                return Ok(Some(LoadedSnapshot {
                    zxid: f.zxid,
                    path: f.path.clone(),
                    value,
                    trailer,
                }))
            }
            Err(e) => tracing::warn!("problem reading snap file {}: {e}", f.path.display()),
        }
    }
    if candidates.is_empty() {
        return Ok(None);
    }
    Err(invalid_data(format!(
        "Not able to find valid snapshots in {}",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(z: i64) -> StatPersisted {
        StatPersisted {
            czxid: z,
            mzxid: z,
            pzxid: z,
            ..Default::default()
        }
    }

    #[test]
    fn encoded_nodes_are_the_bytes_node_writes() {
        let nodes: [(&str, &str, Option<&[u8]>, i64); 4] = [
            ("", "", Some(b"".as_slice()), -1),
            ("/", "a", Some(b"x".as_slice()), 1),
            ("/a", "b", None, -1),
            ("/a/b", "c\u{e9}", Some(b"long value".as_slice()), 7),
        ];
        let mut one = SnapshotEncoder::new(Vec::new());
        one.sessions([(1, 4000)]).unwrap();
        one.acls(std::iter::empty()).unwrap();
        let mut two = SnapshotEncoder::new(Vec::new());
        two.sessions([(1, 4000)]).unwrap();
        two.acls(std::iter::empty()).unwrap();
        let mut enc = EncodedNodes::default();
        for (i, (parent, name, data, acl)) in nodes.iter().enumerate() {
            let path = match (*parent, *name) {
                ("", _) => String::new(),
                ("/", n) => format!("/{n}"),
                (p, n) => format!("{p}/{n}"),
            };
            one.node(&path, *data, *acl, &stat(i as i64)).unwrap();
            enc.push(parent, name, *data, *acl, &stat(i as i64));
        }
        two.encoded_nodes(&enc).unwrap();
        assert_eq!(enc.len(), 4);
        assert_eq!(one.node_count(), two.node_count());
        one.end_nodes().unwrap();
        two.end_nodes().unwrap();
        one.seal().unwrap();
        two.seal().unwrap();
        assert_eq!(one.into_inner(), two.into_inner());
    }

    fn write_small(dir: &Path, zxid: i64, trailer: SnapshotTrailer) -> PathBuf {
        let mut w = SnapshotWriter::create(dir, zxid).unwrap();
        w.sessions(vec![(0x1234, 30000)]).unwrap();
        let acl = Acl::read_unsafe();
        w.acls(vec![(1i64, acl.as_slice())]).unwrap();
        w.node("/", Some(b""), -1, &stat(0)).unwrap();
        w.node("/zookeeper", Some(b""), -1, &stat(0)).unwrap();
        w.node("/a", None, 1, &stat(3)).unwrap();
        w.finish(trailer).unwrap()
    }

    #[test]
    fn round_trip_with_all_trailers() {
        let d = tempfile::tempdir().unwrap();
        let t = SnapshotTrailer {
            digest: Some(ZxidDigest {
                zxid: 5,
                digest_version: 2,
                digest: -77,
            }),
            last_processed_zxid: Some(6),
        };
        let p = write_small(d.path(), 5, t);
        assert_eq!(p.file_name().unwrap(), "snapshot.5");
        assert!(quick_check(&p).unwrap());
        assert!(!d.path().join(".snapshot.5.tmp").exists());
        let mut r = FileSnapshotReader::open(&p).unwrap();
        assert_eq!(r.sessions().unwrap(), vec![(0x1234, 30000)]);
        assert_eq!(r.acls().unwrap(), vec![(1, Acl::read_unsafe())]);
        let mut paths = Vec::new();
        while let Some(n) = r.next_node().unwrap() {
            paths.push((n.path, n.data));
        }
        assert_eq!(
            paths,
            vec![
                ("".to_string(), Some(vec![])),
                ("/zookeeper".to_string(), Some(vec![])),
                ("/a".to_string(), None)
            ]
        );
        assert_eq!(r.finish().unwrap(), t);
        // Without trailers: ends after the first seal.
        let p = write_small(d.path(), 6, SnapshotTrailer::default());
        assert_eq!(verify(&p).unwrap(), SnapshotTrailer::default());
        // lastProcessedZxid alone gets an empty digest record in front.
        let t = SnapshotTrailer {
            digest: None,
            last_processed_zxid: Some(9),
        };
        let p = write_small(d.path(), 7, t);
        assert_eq!(verify(&p).unwrap(), t);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let d = tempfile::tempdir().unwrap();
        let t = SnapshotTrailer {
            digest: Some(ZxidDigest {
                zxid: 5,
                digest_version: 2,
                digest: 1,
            }),
            last_processed_zxid: Some(5),
        };
        let p = write_small(d.path(), 5, t);
        let good = fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            fs::write(&p, &bad).unwrap();
            let res = verify(&p);
            // A flip may also make the trailer look absent/different, but it
            // must never verify as the original.
            assert!(res.as_ref().map(|x| *x != t).unwrap_or(true), "byte {i}");
        }
    }

    #[test]
    fn load_newest_falls_back() {
        let d = tempfile::tempdir().unwrap();
        write_small(d.path(), 5, SnapshotTrailer::default());
        let newer = write_small(d.path(), 9, SnapshotTrailer::default());
        // Corrupt the newest in the middle; keep its quick-check tail.
        let mut b = fs::read(&newer).unwrap();
        b[30] ^= 0xff;
        fs::write(&newer, b).unwrap();
        // And a snapshot that fails the quick check is not even tried.
        fs::write(d.path().join("snapshot.20"), b"garbage").unwrap();
        let mut tries = 0;
        let got = load_newest(d.path(), |r| {
            tries += 1;
            let mut n = 0;
            r.sessions()?;
            r.acls()?;
            while r.next_node()?.is_some() {
                n += 1;
            }
            Ok(n)
        })
        .unwrap()
        .unwrap();
        assert_eq!(got.zxid, 5);
        assert_eq!(got.value, 3);
        assert_eq!(tries, 2);
        // No candidates at all → None; only bad ones → error.
        let e = tempfile::tempdir().unwrap();
        assert!(load_newest(e.path(), |_| Ok(())).unwrap().is_none());
        fs::copy(&newer, e.path().join("snapshot.9")).unwrap();
        assert!(load_newest(e.path(), |_| Ok(())).is_err());
    }

    #[test]
    fn out_of_order_and_unfinished_writes() {
        let d = tempfile::tempdir().unwrap();
        let mut w = SnapshotWriter::create(d.path(), 1).unwrap();
        assert!(w.node("/", None, -1, &stat(0)).is_err());
        assert!(d.path().join(".snapshot.1.tmp").exists());
        drop(w);
        assert!(!d.path().join(".snapshot.1.tmp").exists());
        assert!(!d.path().join("snapshot.1").exists());
        let mut w = SnapshotWriter::create(d.path(), 1).unwrap();
        w.sessions(Vec::new()).unwrap();
        let open = Acl::open_unsafe();
        assert!(w.acls(vec![(-1i64, open.as_slice())]).is_err());
    }

    #[test]
    fn body_round_trip_for_quorum_sync() {
        let mut e = SnapshotEncoder::new(Vec::new());
        e.sessions(vec![(1, 2)]).unwrap();
        e.acls(Vec::<(i64, &[Acl])>::new()).unwrap();
        e.node("", None, -1, &stat(0)).unwrap();
        e.end_nodes().unwrap();
        e.write_string(QUORUM_SNAP_SIGNATURE).unwrap();
        let bytes = e.into_inner();
        let mut cur = io::Cursor::new(bytes);
        let mut r = SnapshotReader::from_body_stream(&mut cur);
        assert_eq!(r.sessions().unwrap(), vec![(1, 2)]);
        assert_eq!(r.finish().unwrap(), SnapshotTrailer::default());
        let rest = &cur.get_ref()[cur.position() as usize..];
        assert_eq!(&rest[4..], QUORUM_SNAP_SIGNATURE.as_bytes());
    }
}
