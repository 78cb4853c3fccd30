//! Counters behind `srvr`, `stat`, `cons` and `mntr`.

use std::time::{Duration, Instant};

/// Request latency summary, in milliseconds as ZooKeeper reports it.
#[derive(Debug, Clone)]
pub struct Latency {
    pub min: u64,
    pub max: u64,
    pub total: u64,
    pub count: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min: u64::MAX,
            max: 0,
            total: 0,
            count: 0,
        }
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let ms = d.as_millis() as u64;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
        self.total += ms;
        self.count += 1;
    }

    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// Average with ZooKeeper's formatting (a float).
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total as f64 / self.count as f64
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub latency: Latency,
}

impl ServerStats {
    pub fn record_latency(&mut self, d: Duration) {
        self.latency.record(d);
    }

    pub fn reset(&mut self) {
        *self = ServerStats::default();
    }
}

#[derive(Debug, Clone)]
pub struct ConnStats {
    pub established: Instant,
    pub established_wall_ms: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub last_op: i32,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_response_wall_ms: i64,
    pub latency: Latency,
    pub last_latency: u64,
}

impl ConnStats {
    pub fn new() -> ConnStats {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        ConnStats {
            established: Instant::now(),
            established_wall_ms: now,
            packets_received: 0,
            packets_sent: 0,
            last_op: -1,
            last_cxid: -1,
            last_zxid: -1,
            last_response_wall_ms: 0,
            latency: Latency::default(),
            last_latency: 0,
        }
    }

    pub fn record_latency(&mut self, d: Duration) {
        self.latency.record(d);
        self.last_latency = d.as_millis() as u64;
        self.last_response_wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
    }

    pub fn reset(&mut self) {
        let est = (self.established, self.established_wall_ms);
        *self = ConnStats::new();
        self.established = est.0;
        self.established_wall_ms = est.1;
    }
}

impl Default for ConnStats {
    fn default() -> Self {
        ConnStats::new()
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
