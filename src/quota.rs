//! Quotas as zkCli keeps them: under `/zookeeper/quota<path>` a
//! `zookeeper_limits` node (the limits) and a `zookeeper_stats` node (the
//! server-maintained usage), both holding a `StatsTrack` string.

use std::collections::BTreeMap;

pub const QUOTA_ROOT: &str = "/zookeeper/quota";
pub const PROC_ROOT: &str = "/zookeeper";
pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

pub fn quota_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}")
}

pub fn limit_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{LIMIT_NODE}")
}

pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}/{STAT_NODE}")
}

/// ZooKeeper's `StatsTrack`: `count=C,bytes=B` first (for old readers), then,
/// if there are other keys, an extra `=` and `;key=value` pairs sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

pub const COUNT: &str = "count";
pub const BYTES: &str = "bytes";
pub const COUNT_HARD: &str = "countHardLimit";
pub const BYTES_HARD: &str = "byteHardLimit";

impl StatsTrack {
    /// Parses the stored form; unparsable values are an error (zkCli would
    /// throw NumberFormatException).
    pub fn parse(s: &str) -> Result<StatsTrack, String> {
        let mut stats = BTreeMap::new();
        for pair in s.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let k = kv.next().unwrap_or_default();
            let v = kv.next().unwrap_or_default();
            let v = if v.is_empty() {
                -1
            } else {
                v.parse::<i64>()
                    .map_err(|_| format!("invalid quota value \"{v}\" in \"{s}\""))?
            };
            stats.insert(k.to_string(), v);
        }
        Ok(StatsTrack { stats })
    }

    pub fn get(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(-1)
    }

    pub fn set(&mut self, key: &str, v: i64) {
        self.stats.insert(key.to_string(), v);
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.get(COUNT),
            "bytes": self.get(BYTES),
            "countHardLimit": self.get(COUNT_HARD),
            "byteHardLimit": self.get(BYTES_HARD),
        })
    }
}

impl std::fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "count={},bytes={}", self.get(COUNT), self.get(BYTES))?;
        let rest: Vec<_> = self
            .stats
            .iter()
            .filter(|(k, _)| k.as_str() != COUNT && k.as_str() != BYTES)
            .collect();
        if !rest.is_empty() {
            write!(f, "=")?;
            for (k, v) in rest {
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
    fn round_trip() {
        let s = "count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1";
        let t = StatsTrack::parse(s).unwrap();
        assert_eq!(t.get(COUNT), 2);
        assert_eq!(t.get(BYTES), -1);
        assert_eq!(t.to_string(), s);
        let stats = StatsTrack::parse("count=0,bytes=0").unwrap();
        assert_eq!(stats.to_string(), "count=0,bytes=0");
        assert!(StatsTrack::parse("count=x").is_err());
    }
}
