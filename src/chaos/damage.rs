//! Storage faults for the nemesis: a member's disk filled up, and the newest
//! txn log or snapshot of a stopped member truncated or given a flipped
//! byte. The files are ZooKeeper's (`dataDir/version-2/log.<zxid>`,
//! `snapshot.<zxid>`), the same for our members and Apache's.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

/// The newest `prefix.<hex zxid>` file in `dir` (by zxid), with the number
/// of such files.
pub fn newest(dir: &Path, prefix: &str) -> (Option<PathBuf>, usize) {
    let mut best: Option<(i64, PathBuf)> = None;
    let mut n = 0;
    let Ok(rd) = fs::read_dir(dir) else {
        return (None, 0);
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(hex) = name.strip_prefix(prefix) else {
            continue;
        };
        let Ok(z) = i64::from_str_radix(hex, 16) else {
            continue;
        };
        n += 1;
        if best.as_ref().is_none_or(|(b, _)| z > *b) {
            best = Some((z, e.path()));
        }
    }
    (best.map(|(_, p)| p), n)
}

/// Where the entries of a txn log end: after the 16-byte file header, each
/// entry is checksum(8) length(4) txn(length) 'B'(1); a zero length or EOF
/// ends the data (the rest is preallocated zeros).
pub fn log_data_end(path: &Path) -> io::Result<u64> {
    let mut bytes = Vec::new();
    fs::File::open(path)?.read_to_end(&mut bytes)?;
    let mut at = 16usize;
    while let Some(len) = bytes.get(at + 8..at + 12) {
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        if len <= 0 || at + 12 + len as usize + 1 > bytes.len() {
            break;
        }
        at += 12 + len as usize + 1;
    }
    Ok(at.min(bytes.len()) as u64)
}

/// Truncates the newest txn log inside its data, or flips a byte in it.
/// Returns what was done, or `None` when the newest log holds no entry.
pub fn damage_log(version_dir: &Path, rng: &mut impl Rng) -> io::Result<Option<String>> {
    let (Some(path), _) = newest(version_dir, "log.") else {
        return Ok(None);
    };
    let end = log_data_end(&path)?;
    if end <= 16 {
        return Ok(None);
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let at = rng.gen_range(16..end);
    if rng.gen_bool(0.5) {
        let f = fs::OpenOptions::new().write(true).open(&path)?;
        f.set_len(at)?;
        Ok(Some(format!(
            "{name} truncated at {at} of {end} bytes of entries"
        )))
    } else {
        let b = flip(&path, at, rng)?;
        Ok(Some(format!("{name}: byte {at} of {end} flipped ({b})")))
    }
}

/// Flips a byte anywhere in the newest snapshot, when an older one exists
/// to fall back to. Returns what was done, or `None` with no older one.
pub fn damage_snapshot(version_dir: &Path, rng: &mut impl Rng) -> io::Result<Option<String>> {
    let (Some(path), n) = newest(version_dir, "snapshot.") else {
        return Ok(None);
    };
    if n < 2 {
        return Ok(None);
    }
    let len = fs::metadata(&path)?.len();
    if len == 0 {
        return Ok(None);
    }
    let at = rng.gen_range(0..len);
    let b = flip(&path, at, rng)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Some(format!(
        "{}: byte {at} of {len} flipped ({b})",
        name.unwrap_or_default()
    )))
}

fn flip(path: &Path, at: u64, rng: &mut impl Rng) -> io::Result<String> {
    let mut bytes = fs::read(path)?;
    let i = at as usize;
    let old = bytes[i];
    bytes[i] ^= rng.gen_range(1..=255u8);
    let new = bytes[i];
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    Ok(format!("{old:#04x} -> {new:#04x}"))
}

/// Fills the filesystem holding `dir` with one file, until the write fails
/// (ENOSPC); returns the file and how much it took.
pub fn fill_disk(dir: &Path) -> io::Result<(PathBuf, u64)> {
    let path = dir.join("chaos-filler");
    let mut f = fs::File::create(&path)?;
    let chunk = vec![0x5au8; 1 << 20];
    let mut n = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(_) => break,
        }
        if n > 64 << 30 {
            // Not a small filesystem: give up rather than fill a real disk.
            let _ = fs::remove_file(&path);
            return Err(io::Error::other("the filesystem is not a small one"));
        }
    }
    let _ = f.flush();
    Ok((path, n))
}

/// Mounts a tmpfs of `size` (e.g. "512m") on `dir`: a member's own small
/// disk, which [`fill_disk`] can fill without touching anything else. Needs
/// a mount namespace of the harness's own (`unshare -m`).
pub fn mount_tmpfs(dir: &Path, size: &str) -> io::Result<()> {
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()?
        .success();
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mount -t tmpfs on {} failed",
            dir.display()
        )))
    }
}

pub fn unmount(dir: &Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn log_data_end_stops_at_the_zero_length() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.1");
        let mut b = vec![0u8; 16];
        for len in [5u32, 3] {
            b.extend_from_slice(&[1; 8]);
            b.extend_from_slice(&len.to_be_bytes());
            b.extend(std::iter::repeat_n(7, len as usize));
            b.push(b'B');
        }
        let end = b.len() as u64;
        b.extend_from_slice(&[0; 100]);
        fs::write(&p, &b).unwrap();
        assert_eq!(log_data_end(&p).unwrap(), end);
        fs::write(d.path().join("log.a"), [0u8; 40]).unwrap();
        assert_eq!(newest(d.path(), "log.").0.unwrap(), d.path().join("log.a"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // The newest (log.a) has no entry: nothing is damaged.
        assert!(damage_log(d.path(), &mut rng).unwrap().is_none());
        fs::remove_file(d.path().join("log.a")).unwrap();
        let what = damage_log(d.path(), &mut rng).unwrap().unwrap();
        assert!(what.starts_with("log.1"), "{what}");
        assert_ne!(fs::read(&p).unwrap(), b);
    }
}
