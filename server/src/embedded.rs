//! An in-process standalone server for `zkcli --embedded` and tests: loopback,
//! an ephemeral port, and a temporary dataDir unless one is given.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::config::{Config, ALL_FOUR_LETTER_WORDS};
use crate::server::{self, ServerHandle};

pub struct EmbeddedServer {
    handle: ServerHandle,
    /// Kept so the temporary dataDir lives as long as the server.
    _temp: Option<tempfile::TempDir>,
}

impl EmbeddedServer {
    pub async fn start(data_dir: Option<PathBuf>) -> anyhow::Result<EmbeddedServer> {
        let (dir, temp) = match data_dir {
            Some(d) => {
                std::fs::create_dir_all(&d)?;
                (d, None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("zkcli-embedded-")
                    .tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut cfg = Config::new(dir);
        cfg.client_port = 0;
        cfg.client_port_address = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        cfg.four_letter_whitelist = ALL_FOUR_LETTER_WORDS
            .iter()
            .map(|s| s.to_string())
            .collect();
        cfg.extended_types = true;
        let handle = server::start(cfg).await?;
        Ok(EmbeddedServer {
            handle,
            _temp: temp,
        })
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.handle.client_addr()
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
