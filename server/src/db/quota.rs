//! Quota bookkeeping nodes, stored exactly as ZooKeeper stores them so that
//! zkCli's `setquota`/`listquota`/`delquota` work unchanged:
//! `/zookeeper/quota<path>/zookeeper_limits` and `.../zookeeper_stats`, whose
//! data is a `StatsTrack` string such as `count=2,bytes=-1`.

use std::fmt;

pub const LIMITS_NODE: &str = "zookeeper_limits";
pub const STATS_NODE: &str = "zookeeper_stats";

/// The quota'd path a limits node belongs to.
pub fn quota_path_of_limits(p: &str) -> Option<String> {
    let rest = p.strip_prefix(crate::db::tree::QUOTA)?;
    let qp = rest.strip_suffix(&format!("/{LIMITS_NODE}"))?;
    (!qp.is_empty()).then(|| qp.to_string())
}

/// The quota'd path a stats node belongs to.
pub fn quota_path_of_stats(p: &str) -> Option<String> {
    let rest = p.strip_prefix(crate::db::tree::QUOTA)?;
    let qp = rest.strip_suffix(&format!("/{STATS_NODE}"))?;
    (!qp.is_empty()).then(|| qp.to_string())
}

pub fn stats_node(quota_path: &str) -> String {
    format!("{}{quota_path}/{STATS_NODE}", crate::db::tree::QUOTA)
}

/// Whether `a` is `b` or one of its ancestors.
pub fn is_ancestor_or_self(a: &str, b: &str) -> bool {
    a == "/" || b == a || (b.starts_with(a) && b.as_bytes().get(a.len()) == Some(&b'/'))
}

/// ZooKeeper's `StatsTrack`: `count=C,bytes=B` and, since 3.7, further
/// `key=value` pairs after an `=;` separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsTrack {
    pub count: i64,
    pub bytes: i64,
    pub extra: Vec<(String, i64)>,
}

impl StatsTrack {
    pub fn parse(b: &[u8]) -> StatsTrack {
        let s = String::from_utf8_lossy(b);
        let mut st = StatsTrack {
            count: -1,
            bytes: -1,
            extra: Vec::new(),
        };
        for part in s.split([',', ';']) {
            let mut kv = part.splitn(2, '=');
            let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                continue;
            };
            let v = v.trim_end_matches('=');
            let Ok(n) = v.trim().parse::<i64>() else {
                continue;
            };
            match k.trim() {
                "count" => st.count = n,
                "bytes" => st.bytes = n,
                other => st.extra.push((other.to_string(), n)),
            }
        }
        st.extra.sort();
        st
    }
}

impl fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "count={},bytes={}", self.count, self.bytes)?;
        if !self.extra.is_empty() {
            write!(f, "=")?;
            for (k, v) in &self.extra {
                write!(f, ";{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_round_trip() {
        let s = "count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1";
        assert_eq!(StatsTrack::parse(s.as_bytes()).to_string(), s);
        assert_eq!(
            StatsTrack::parse(b"count=1,bytes=5").to_string(),
            "count=1,bytes=5"
        );
        assert_eq!(
            quota_path_of_limits("/zookeeper/quota/a/b/zookeeper_limits").as_deref(),
            Some("/a/b")
        );
        assert!(is_ancestor_or_self("/a", "/a/b"));
        assert!(!is_ancestor_or_self("/a", "/ab"));
    }
}
