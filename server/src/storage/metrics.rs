//! Storage timings behind `mntr`: ZooKeeper's `fsynctime` and
//! `snapshottime` summaries (`zk_avg_/min_/max_/cnt_/sum_fsynctime`, in ms),
//! so an operator can see the log's sync latency, and whether a snapshot
//! being written makes it worse, on our server and on ZooKeeper alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Count, sum, min and max of durations in whole milliseconds, updated from
/// any thread without a lock (the log thread records one per commit). Each
/// sample is truncated to whole milliseconds before it is added, as
/// ZooKeeper does (`TimeUnit.NANOSECONDS.toMillis`), so both servers'
/// averages mean the same thing.
#[derive(Debug)]
pub struct TimeSummary {
    count: AtomicU64,
    sum_ms: AtomicU64,
    min_ms: AtomicU64,
    max_ms: AtomicU64,
}

impl Default for TimeSummary {
    fn default() -> Self {
        TimeSummary {
            count: AtomicU64::new(0),
            sum_ms: AtomicU64::new(0),
            min_ms: AtomicU64::new(u64::MAX),
            max_ms: AtomicU64::new(0),
        }
    }
}

/// A snapshot of a [`TimeSummary`], in milliseconds as ZooKeeper prints it
/// (`avg` a float, the others whole milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryMs {
    pub avg: f64,
    pub min: u64,
    pub max: u64,
    pub count: u64,
    pub sum: u64,
}

impl TimeSummary {
    pub fn record(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.min_ms.fetch_min(ms, Ordering::Relaxed);
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn ms(&self) -> SummaryMs {
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_ms.load(Ordering::Relaxed);
        if count == 0 {
            return SummaryMs {
                avg: 0.0,
                min: 0,
                max: 0,
                count: 0,
                sum: 0,
            };
        }
        SummaryMs {
            avg: sum as f64 / count as f64,
            min: self.min_ms.load(Ordering::Relaxed),
            max: self.max_ms.load(Ordering::Relaxed),
            count,
            sum,
        }
    }
}

/// What the log thread and the snapshot thread measure.
#[derive(Debug, Default)]
pub struct StorageMetrics {
    /// Each group commit of the txn log: write plus fdatasync.
    pub fsync: TimeSummary,
    /// Each snapshot, from its start to its file renamed into place.
    pub snapshot: TimeSummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reports_milliseconds_like_zookeeper() {
        let s = TimeSummary::default();
        assert_eq!(s.ms().count, 0);
        assert_eq!(s.ms().min, 0);
        s.record(Duration::from_micros(1500));
        s.record(Duration::from_micros(4500));
        s.record(Duration::from_micros(900));
        let m = s.ms();
        // Truncated per sample: 1 + 4 + 0.
        assert_eq!((m.min, m.max, m.count, m.sum), (0, 4, 3, 5));
        assert!((m.avg - 5.0 / 3.0).abs() < 1e-9);
    }
}
