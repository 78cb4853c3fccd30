//! Connect strings (`host[:port][,host[:port]...][/chroot]`) and chroot path
//! translation, following the Java client's `ConnectStringParser`.

use std::fmt;
use std::net::Ipv6Addr;

use rand::seq::SliceRandom;
use zkproto::ErrorCode;

/// Port used when a host has none (`ConnectStringParser.DEFAULT_PORT`).
pub const DEFAULT_PORT: u16 = 2181;

/// One server address as written in the connect string (not yet resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP literal, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed connect string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectString {
    pub hosts: Vec<HostPort>,
    /// The chroot, without a trailing `/`; `None` when absent or `/`.
    pub chroot: Option<String>,
}

impl ConnectString {
    /// Parses `h1:p1,h2:p2/chroot`. Like the Java client, everything from the
    /// first `/` is the chroot (validated as a znode path; a lone `/` means no
    /// chroot), hosts are split on `,` with surrounding blanks dropped, and a
    /// missing port means 2181. IPv6 literals are written `[::1]:2181`; a bare
    /// IPv6 literal without brackets is accepted with the default port.
    ///
    /// Errors are `BadArguments`: no hosts, bad port, invalid chroot.
    pub fn parse(s: &str) -> Result<ConnectString, ErrorCode> {
        let (host_part, chroot) = match s.find('/') {
            Some(i) => {
                let chroot = &s[i..];
                if chroot.len() == 1 {
                    (&s[..i], None)
                } else {
                    zkproto::path::validate_path(chroot).map_err(|_| ErrorCode::BadArguments)?;
                    (&s[..i], Some(chroot.to_string()))
                }
            }
            None => (s, None),
        };
        let hosts = host_part
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(parse_host)
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.is_empty() {
            return Err(ErrorCode::BadArguments);
        }
        Ok(ConnectString { hosts, chroot })
    }
}

fn parse_port(p: &str) -> Result<u16, ErrorCode> {
    p.parse::<u16>().map_err(|_| ErrorCode::BadArguments)
}

fn parse_host(h: &str) -> Result<HostPort, ErrorCode> {
    if let Some(rest) = h.strip_prefix('[') {
        let end = rest.find(']').ok_or(ErrorCode::BadArguments)?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = if after.is_empty() {
            DEFAULT_PORT
        } else {
            let p = after.strip_prefix(':').ok_or(ErrorCode::BadArguments)?;
            parse_port(p)?
        };
        if host.is_empty() {
            return Err(ErrorCode::BadArguments);
        }
        return Ok(HostPort {
            host: host.to_string(),
            port,
        });
    }
    if h.parse::<Ipv6Addr>().is_ok() {
        return Ok(HostPort {
            host: h.to_string(),
            port: DEFAULT_PORT,
        });
    }
    let (host, port) = match h.rfind(':') {
        // "host:" (colon at the end) keeps the default port, as in Java.
        Some(i) if i + 1 == h.len() => (&h[..i], DEFAULT_PORT),
        Some(i) => (&h[..i], parse_port(&h[i + 1..])?),
        None => (h, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Err(ErrorCode::BadArguments);
    }
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// The servers to try, in a random order fixed at creation (so that many
/// clients with the same connect string spread over the ensemble), cycled
/// round-robin like the Java `StaticHostProvider`.
#[derive(Debug)]
pub struct HostList {
    hosts: Vec<HostPort>,
    next: usize,
}

impl HostList {
    /// Shuffles `hosts`, which must not be empty.
    pub fn new(mut hosts: Vec<HostPort>) -> HostList {
        hosts.shuffle(&mut rand::thread_rng());
        HostList { hosts, next: 0 }
    }

    /// Keeps the order of `hosts`, which must not be empty.
    pub fn in_order(hosts: Vec<HostPort>) -> HostList {
        HostList { hosts, next: 0 }
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// The next server to try.
    pub fn next_host(&mut self) -> HostPort {
        let h = self.hosts[self.next % self.hosts.len()].clone();
        self.next = (self.next + 1) % self.hosts.len();
        h
    }
}

/// Client path → server path: the chroot is prepended (`/` maps to the chroot
/// itself).
pub fn prepend_chroot(chroot: Option<&str>, path: &str) -> String {
    match chroot {
        None => path.to_string(),
        Some(c) if path == "/" => c.to_string(),
        Some(c) => format!("{c}{path}"),
    }
}

/// Server path → client path: the chroot is removed when the path is the chroot
/// or lies below it. Other paths (e.g. `/zookeeper/config`, or the results of
/// a string-prefix `getEphemerals`) are returned unchanged rather than
/// mangled, which is where this deliberately differs from the Java client's
/// plain `substring`.
pub fn strip_chroot(chroot: Option<&str>, path: &str) -> String {
    let Some(c) = chroot else {
        return path.to_string();
    };
    match path.strip_prefix(c) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(h: &str, p: u16) -> HostPort {
        HostPort {
            host: h.into(),
            port: p,
        }
    }

    #[test]
    fn parses_hosts_ports_and_chroot() {
        let c = ConnectString::parse("a:1, b ,[::1]:3,[fe80::1]/app/x").unwrap();
        assert_eq!(
            c.hosts,
            vec![hp("a", 1), hp("b", 2181), hp("::1", 3), hp("fe80::1", 2181)]
        );
        assert_eq!(c.chroot.as_deref(), Some("/app/x"));
        assert_eq!(ConnectString::parse("h:/").unwrap().chroot, None);
        assert_eq!(
            ConnectString::parse("::1").unwrap().hosts,
            vec![hp("::1", 2181)]
        );
        assert_eq!(hp("::1", 5).to_string(), "[::1]:5");
    }

    #[test]
    fn rejects_bad_strings() {
        for s in [
            "", ",", "/app", "h:x", "h:99999", "[::1", "[::1]x", "h/a/", "h/a//b", ":1",
        ] {
            assert_eq!(ConnectString::parse(s), Err(ErrorCode::BadArguments), "{s}");
        }
    }

    #[test]
    fn chroot_translation() {
        assert_eq!(prepend_chroot(Some("/app"), "/"), "/app");
        assert_eq!(prepend_chroot(Some("/app"), "/x"), "/app/x");
        assert_eq!(prepend_chroot(None, "/x"), "/x");
        assert_eq!(strip_chroot(Some("/app"), "/app"), "/");
        assert_eq!(strip_chroot(Some("/app"), "/app/x"), "/x");
        assert_eq!(strip_chroot(Some("/app"), "/apple"), "/apple");
        assert_eq!(
            strip_chroot(Some("/app"), "/zookeeper/config"),
            "/zookeeper/config"
        );
    }

    #[test]
    fn host_list_cycles() {
        let mut l = HostList::new(vec![hp("a", 1), hp("b", 2)]);
        let first = l.next_host();
        let second = l.next_host();
        assert_ne!(first, second);
        assert_eq!(l.next_host(), first);
    }
}
