//! ZooKeeper's data-tree digest (3.6+, `DigestCalculator`, digest version 2).
//!
//! Every logged transaction may carry the digest of the whole tree *after*
//! applying it (`TxnDigest`), and every snapshot carries the digest of the
//! tree at some zxid (`ZxidDigest`). Replicas and restarted servers compare
//! their own tree against these numbers to detect divergence, so our values
//! must be bit-for-bit those of ZooKeeper 3.8:
//!
//! * per node: CRC32 over the path's UTF-8 bytes (the root is `""`; ZooKeeper
//!   aliases `"/"` to `""` here), then the data bytes if the data is not null,
//!   then a 60-byte big-endian block `czxid, mzxid, pzxid, ctime, mtime`
//!   (longs), `version, cversion, aversion` (ints), `ephemeralOwner` (long).
//!   Note `pzxid` comes third, unlike the `StatPersisted` field order, and
//!   `cversion` is the *stored* create count, not the client-visible value.
//! * every node whose path starts with `/zookeeper/` contributes 0 (quota
//!   nodes are updated locally on each server, so ZooKeeper excludes that
//!   whole subtree). `/zookeeper` itself is *not* excluded.
//! * tree digest = wrapping 64-bit sum of the node digests; updates subtract
//!   the node's old digest and add the new one.
//!
//! Null and empty data give the same digest (CRC of no bytes).

use zkproto::records::StatPersisted;

/// The digest algorithm version ZooKeeper 3.6–3.9 writes (`DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;

/// Prefix of the subtree ZooKeeper leaves out of the digest
/// (`ZooDefs.ZOOKEEPER_NODE_SUBTREE`).
pub const EXCLUDED_SUBTREE: &str = "/zookeeper/";

/// Digest of one node, as `DigestCalculator.calculateDigest` computes it.
///
/// `path` is the full path; `"/"` and `""` both mean the root. The result is
/// the unsigned CRC32 value widened to `i64` (always in `0..=u32::MAX`), or 0
/// for nodes under `/zookeeper/`.
pub fn node_digest(path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> i64 {
    if path.starts_with(EXCLUDED_SUBTREE) {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut block = [0u8; 60];
    let fields: [&[u8]; 9] = [
        &stat.czxid.to_be_bytes(),
        &stat.mzxid.to_be_bytes(),
        &stat.pzxid.to_be_bytes(),
        &stat.ctime.to_be_bytes(),
        &stat.mtime.to_be_bytes(),
        &stat.version.to_be_bytes(),
        &stat.cversion.to_be_bytes(),
        &stat.aversion.to_be_bytes(),
        &stat.ephemeral_owner.to_be_bytes(),
    ];
    let mut off = 0;
    for f in fields {
        block[off..off + f.len()].copy_from_slice(f);
        off += f.len();
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(path.as_bytes());
    if let Some(d) = data {
        crc.update(d);
    }
    crc.update(&block);
    i64::from(crc.finalize())
}

/// The running digest of a whole tree: a wrapping sum of [`node_digest`]s.
///
/// The tree should call [`TreeDigest::add`] with a node's digest when the
/// node is created or after it changes, and [`TreeDigest::remove`] with its
/// previous digest before it changes or when it is deleted (ZooKeeper's
/// `preChange`/`postChange`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeDigest(pub i64);

impl TreeDigest {
    pub fn new() -> TreeDigest {
        TreeDigest(0)
    }

    pub fn add(&mut self, node_digest: i64) {
        self.0 = self.0.wrapping_add(node_digest);
    }

    pub fn remove(&mut self, node_digest: i64) {
        self.0 = self.0.wrapping_sub(node_digest);
    }

    pub fn value(&self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_aliases_and_exclusions() {
        let st = StatPersisted::default();
        assert_eq!(node_digest("/", None, &st), node_digest("", Some(b""), &st));
        assert_eq!(node_digest("/zookeeper/quota", None, &st), 0);
        assert_eq!(node_digest("/zookeeper/config", Some(b"x"), &st), 0);
        assert_ne!(node_digest("/zookeeper", None, &st), 0);
        // A sibling that merely shares the prefix without the slash counts.
        assert_ne!(node_digest("/zookeeperx", None, &st), 0);
    }

    #[test]
    fn known_value_of_empty_root() {
        // CRC32 of 60 zero bytes: what ZooKeeper's fresh root contributes.
        let mut h = crc32fast::Hasher::new();
        h.update(&[0u8; 60]);
        let expect = i64::from(h.finalize());
        assert_eq!(node_digest("", None, &StatPersisted::default()), expect);
    }

    #[test]
    fn field_order_puts_pzxid_third() {
        let a = StatPersisted {
            pzxid: 5,
            ..Default::default()
        };
        let mut h = crc32fast::Hasher::new();
        h.update(b"/a");
        let mut block = [0u8; 60];
        block[16..24].copy_from_slice(&5i64.to_be_bytes());
        h.update(&block);
        assert_eq!(node_digest("/a", None, &a), i64::from(h.finalize()));
    }

    #[test]
    fn tree_digest_wraps() {
        let mut t = TreeDigest(i64::MAX);
        t.add(2);
        assert_eq!(t.value(), i64::MIN + 1);
        t.remove(2);
        assert_eq!(t.value(), i64::MAX);
    }
}
