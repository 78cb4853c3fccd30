//! Layout of ZooKeeper's data directories, as ZooKeeper 3.8 uses them.
//!
//! ```text
//! dataDir/myid                      decimal server id (quorum only)
//! dataDir/version-2/snapshot.<hex>  snapshots (.gz / .snappy when compressed)
//! dataDir/version-2/acceptedEpoch   decimal text, written atomically
//! dataDir/version-2/currentEpoch    decimal text, written atomically
//! dataLogDir/version-2/log.<hex>    transaction logs
//! ```
//!
//! File names carry the zxid as lowercase hex without leading zeros
//! (`Long.toHexString`); directories are always ordered by the *parsed* zxid,
//! never lexically (`log.f` < `log.10`). A log is named after the first zxid
//! it holds, a snapshot after the last zxid applied when it started.
//!
//! Everything that replaces a small file goes through [`write_atomic`]
//! (temp file, fsync, rename, fsync of the directory) so a crash leaves either
//! the old or the new value, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The subdirectory of dataDir / dataLogDir that holds the files
/// (`FileTxnSnapLog.version + VERSION`).
pub const VERSION_DIR: &str = "version-2";
/// Prefix of transaction log file names.
pub const LOG_PREFIX: &str = "log";
/// Prefix of snapshot file names.
pub const SNAPSHOT_PREFIX: &str = "snapshot";
/// `dataDir/version-2/acceptedEpoch`.
pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
/// `dataDir/version-2/currentEpoch`.
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";
/// `dataDir/myid`.
pub const MYID_FILE: &str = "myid";
/// ZooKeeper's lower bound for the number of snapshots a purge keeps.
pub const MIN_SNAP_RETAIN_COUNT: usize = 3;

/// `base/version-2`.
pub fn version_dir(base: &Path) -> PathBuf {
    base.join(VERSION_DIR)
}

/// Creates `base/version-2` (and parents) if needed and returns it.
pub fn ensure_version_dir(base: &Path) -> io::Result<PathBuf> {
    let d = version_dir(base);
    fs::create_dir_all(&d)?;
    Ok(d)
}

/// `log.<hex zxid>`.
pub fn log_file_name(zxid: i64) -> String {
    format!("{LOG_PREFIX}.{zxid:x}")
}

/// `snapshot.<hex zxid>` (uncompressed; the only kind we write).
pub fn snapshot_file_name(zxid: i64) -> String {
    format!("{SNAPSHOT_PREFIX}.{zxid:x}")
}

/// Compression of a snapshot file, from its name's last extension
/// (`SnapStream.getStreamMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapCompression {
    None,
    Gzip,
    Snappy,
}

/// A log or snapshot file with the zxid parsed from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub zxid: i64,
    pub path: PathBuf,
}

/// Parses `<prefix>.<hex>` and returns the zxid.
///
/// Stricter than ZooKeeper's `Util.getZxidFromName`, which accepts any
/// further `.suffix`: we only accept exactly two parts, so our own
/// temporary files and tool leftovers (`log.5.chopped7`) are never mistaken
/// for data. Negative or unparsable values are rejected, as ZooKeeper maps
/// them to -1 (invalid).
pub fn parse_log_name(name: &str) -> Option<i64> {
    let rest = name.strip_prefix(LOG_PREFIX)?.strip_prefix('.')?;
    parse_hex_zxid(rest)
}

/// Parses `snapshot.<hex>`, `snapshot.<hex>.gz` or `snapshot.<hex>.snappy`.
pub fn parse_snapshot_name(name: &str) -> Option<(i64, SnapCompression)> {
    let rest = name.strip_prefix(SNAPSHOT_PREFIX)?.strip_prefix('.')?;
    let (hex, comp) = match rest.split_once('.') {
        None => (rest, SnapCompression::None),
        Some((h, "gz")) => (h, SnapCompression::Gzip),
        Some((h, "snappy")) => (h, SnapCompression::Snappy),
        Some(_) => return None,
    };
    Some((parse_hex_zxid(hex)?, comp))
}

fn parse_hex_zxid(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(s, 16).ok()
}

fn list_with(dir: &Path, parse: impl Fn(&str) -> Option<i64>) -> io::Result<Vec<DataFile>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let ent = ent?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(zxid) = parse(name) {
            if ent.file_type()?.is_file() {
                out.push(DataFile {
                    zxid,
                    path: ent.path(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.zxid.cmp(&b.zxid).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

/// Transaction logs in `dir` (a `version-2` directory), oldest first.
/// A missing directory lists as empty.
pub fn list_logs(dir: &Path) -> io::Result<Vec<DataFile>> {
    list_with(dir, parse_log_name)
}

/// Snapshots in `dir` (a `version-2` directory), oldest first, including
/// compressed ones. A missing directory lists as empty.
pub fn list_snapshots(dir: &Path) -> io::Result<Vec<DataFile>> {
    list_with(dir, |n| parse_snapshot_name(n).map(|(z, _)| z))
}

/// The logs needed to replay from `zxid` (`FileTxnLog.getLogFiles`): the
/// newest log starting at or before `zxid`, plus every later one. When every
/// log starts after `zxid`, all of them. `logs` must be sorted oldest first
/// (as [`list_logs`] returns them).
pub fn logs_from(logs: &[DataFile], zxid: i64) -> &[DataFile] {
    let start = logs.iter().rposition(|f| f.zxid <= zxid).unwrap_or(0);
    &logs[start..]
}

/// What [`purge`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// Zxid of the oldest snapshot kept; everything removed predates it.
    pub oldest_kept_snapshot: Option<i64>,
    pub removed: Vec<PathBuf>,
}

/// Deletes old snapshots and logs like ZooKeeper's `PurgeTxnLog` /
/// `zkCleanup.sh` / autopurge: keeps the newest `keep` snapshots that pass
/// the quick validity check (`keep` is raised to 3 like autopurge does), and
/// every log needed to replay from the oldest of them. Removes snapshots and
/// logs older than that snapshot. Does nothing when no valid snapshot exists.
///
/// `snap_dir` and `log_dir` are the `version-2` directories (they may be the
/// same). Files are removed oldest first, so a crash part-way leaves a usable
/// directory.
pub fn purge(snap_dir: &Path, log_dir: &Path, keep: usize) -> io::Result<PurgeReport> {
    let keep = if keep < MIN_SNAP_RETAIN_COUNT {
        tracing::warn!(
            "snapshot retain count {keep} is below the minimum, using {MIN_SNAP_RETAIN_COUNT}"
        );
        MIN_SNAP_RETAIN_COUNT
    } else {
        keep
    };
    let snaps = list_snapshots(snap_dir)?;
    let kept = crate::storage::snapshot::find_valid_snapshots(snap_dir, keep)?;
    let Some(least) = kept.last().map(|f| f.zxid) else {
        return Ok(PurgeReport::default());
    };
    let logs = list_logs(log_dir)?;
    let retained_from = logs_from(&logs, least).first().map(|f| f.zxid);
    let mut victims: Vec<DataFile> = logs
        .iter()
        .filter(|f| f.zxid < least && retained_from.is_none_or(|r| f.zxid < r))
        .cloned()
        .collect();
    victims.extend(snaps.into_iter().filter(|f| f.zxid < least));
    victims.sort_by_key(|f| f.zxid);
    let mut report = PurgeReport {
        oldest_kept_snapshot: Some(least),
        removed: Vec::new(),
    };
    for f in victims {
        tracing::info!("Removing file: {}", f.path.display());
        match fs::remove_file(&f.path) {
            Ok(()) => report.removed.push(f.path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Fsyncs a directory so that renames and new entries in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `contents` atomically: writes `<path>.tmp`, fsyncs
/// it, renames it over `path` and fsyncs the directory (ZooKeeper's
/// `AtomicFileOutputStream`, which uses the same `.tmp` name).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
        return res;
    }
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

/// Reads a file holding one decimal number on its first line
/// (`QuorumPeer.readLongFromFile`); `None` when the file does not exist.
/// Surrounding whitespace is tolerated; anything else is `InvalidData`.
pub fn read_long_file(path: &Path) -> io::Result<Option<i64>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let line = text.lines().next().unwrap_or("").trim();
    line.parse::<i64>().map(Some).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Found {line:?} in {}", path.display()),
        )
    })
}

/// Writes a decimal number atomically, without a newline, as ZooKeeper does.
pub fn write_long_file(path: &Path, value: i64) -> io::Result<()> {
    write_atomic(path, value.to_string().as_bytes())
}

/// `acceptedEpoch` from a snapshot `version-2` directory.
pub fn read_accepted_epoch(snap_dir: &Path) -> io::Result<Option<i64>> {
    read_long_file(&snap_dir.join(ACCEPTED_EPOCH_FILE))
}

pub fn write_accepted_epoch(snap_dir: &Path, epoch: i64) -> io::Result<()> {
    write_long_file(&snap_dir.join(ACCEPTED_EPOCH_FILE), epoch)
}

/// `currentEpoch` from a snapshot `version-2` directory.
pub fn read_current_epoch(snap_dir: &Path) -> io::Result<Option<i64>> {
    read_long_file(&snap_dir.join(CURRENT_EPOCH_FILE))
}

/// `currentEpoch.tmp`, left behind when a crash interrupted an update;
/// ZooKeeper uses it to recover `currentEpoch` at startup.
pub fn read_current_epoch_tmp(snap_dir: &Path) -> io::Result<Option<i64>> {
    read_long_file(&snap_dir.join(format!("{CURRENT_EPOCH_FILE}.tmp")))
}

pub fn write_current_epoch(snap_dir: &Path, epoch: i64) -> io::Result<()> {
    write_long_file(&snap_dir.join(CURRENT_EPOCH_FILE), epoch)
}

/// `dataDir/myid` (note: dataDir itself, not `version-2`).
pub fn read_myid(data_dir: &Path) -> io::Result<Option<i64>> {
    read_long_file(&data_dir.join(MYID_FILE))
}

pub fn write_myid(data_dir: &Path, id: i64) -> io::Result<()> {
    write_atomic(&data_dir.join(MYID_FILE), format!("{id}\n").as_bytes())
}

impl std::fmt::Display for PurgeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.oldest_kept_snapshot {
            Some(z) => write!(
                f,
                "kept snapshots from zxid 0x{z:x}; removed {} file(s)",
                self.removed.len()
            )?,
            None => write!(f, "no valid snapshot; nothing removed")?,
        }
        for p in &self.removed {
            write!(f, "\n  removed {}", p.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_numerically() {
        assert_eq!(log_file_name(0x1_0000_0001), "log.100000001");
        assert_eq!(snapshot_file_name(0), "snapshot.0");
        assert_eq!(parse_log_name("log.100000001"), Some(0x1_0000_0001));
        assert_eq!(parse_log_name("log.5.chopped7"), None);
        assert_eq!(parse_log_name("log."), None);
        assert_eq!(parse_log_name("log.-5"), None);
        assert_eq!(parse_log_name("logx.5"), None);
        assert_eq!(
            parse_snapshot_name("snapshot.1f.gz"),
            Some((0x1f, SnapCompression::Gzip))
        );
        assert_eq!(parse_snapshot_name("snapshot.1f.tmp"), None);
        assert_eq!(parse_snapshot_name(".snapshot.1f.tmp"), None);

        let d = tempfile::tempdir().unwrap();
        for n in ["log.f", "log.10", "log.2", "snapshot.3", "junk"] {
            fs::write(d.path().join(n), b"x").unwrap();
        }
        let logs: Vec<i64> = list_logs(d.path())
            .unwrap()
            .iter()
            .map(|f| f.zxid)
            .collect();
        assert_eq!(logs, vec![2, 15, 16]);
        assert!(list_logs(&d.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn logs_from_picks_newest_at_or_before() {
        let mk = |z: &[i64]| -> Vec<DataFile> {
            z.iter()
                .map(|&zxid| DataFile {
                    zxid,
                    path: PathBuf::from(log_file_name(zxid)),
                })
                .collect()
        };
        let logs = mk(&[1, 10, 20]);
        let z = |s: &[DataFile]| s.iter().map(|f| f.zxid).collect::<Vec<_>>();
        assert_eq!(z(logs_from(&logs, 0)), vec![1, 10, 20]);
        assert_eq!(z(logs_from(&logs, 10)), vec![10, 20]);
        assert_eq!(z(logs_from(&logs, 15)), vec![10, 20]);
        assert_eq!(z(logs_from(&logs, 99)), vec![20]);
        assert!(logs_from(&[], 5).is_empty());
    }

    #[test]
    fn epochs_and_myid() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_current_epoch(d.path()).unwrap(), None);
        write_current_epoch(d.path(), 7).unwrap();
        assert_eq!(fs::read(d.path().join("currentEpoch")).unwrap(), b"7");
        assert_eq!(read_current_epoch(d.path()).unwrap(), Some(7));
        write_accepted_epoch(d.path(), 8).unwrap();
        assert_eq!(read_accepted_epoch(d.path()).unwrap(), Some(8));
        assert!(!d.path().join("acceptedEpoch.tmp").exists());
        write_myid(d.path(), 3).unwrap();
        assert_eq!(read_myid(d.path()).unwrap(), Some(3));
        fs::write(d.path().join("currentEpoch"), b"x1").unwrap();
        assert!(read_current_epoch(d.path()).is_err());
    }
}
