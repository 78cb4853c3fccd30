//! Recovery of the dataDir at start-up and the durable log sink.
//! (In-memory until the on-disk formats are wired in.)

use crate::config::Config;
use crate::logstage::NullSink;
use crate::server::Recovered;
use crate::tree::DataTree;

pub fn recover(cfg: &Config) -> anyhow::Result<Recovered> {
    Ok(Recovered {
        tree: DataTree::new(cfg.extended_types),
        sessions: Vec::new(),
        sink: Box::new(NullSink),
    })
}
