//! The election config text: `QuorumMaj.toString()` and what a 3.8 receiver
//! accepts in its place.
//!
//! Every notification and NEWLEADER carries this text, and the Java receiver
//! parses it (`QuorumPeer.configFromString` → `Properties.load` →
//! `QuorumPeerConfig.parseDynamicConfig` → `new QuorumMaj(props)`). A higher
//! version restarts its election; some malformed numbers throw unchecked
//! exceptions that kill its `WorkerReceiver` thread (quorum-wire §1 item 5,
//! trap §8.3). So we send exactly what Java sends, and check what peers send.

use std::collections::BTreeMap;

use super::WireError;
use crate::config::ServerSpec;

/// The order in which `QuorumMaj.toString()` lists members: the iteration
/// order of its `HashMap<Long, QuorumServer>`.
///
/// `HashMap` places key `k` in bucket `spread(Long.hashCode(k)) & (cap - 1)`,
/// where `cap` starts at 16 and doubles whenever the size exceeds 3/4 of it,
/// and iterates buckets in index order. For ids below the capacity this is
/// ascending order (the capture shows 1, 2, 3). Within one bucket Java keeps
/// insertion order, which follows the `Properties` iteration order of the
/// `server.N` keys; we approximate that with ascending id. It only matters
/// for ids congruent modulo the capacity (e.g. 1 and 17 in one ensemble).
pub fn java_member_order(ids: &[u64]) -> Vec<u64> {
    let mut cap: usize = 16;
    while ids.len() > cap / 4 * 3 {
        cap *= 2;
    }
    let bucket = |id: u64| {
        let h = (id ^ (id >> 32)) as u32; // Long.hashCode
        ((h ^ (h >> 16)) as usize) & (cap - 1) // HashMap.hash, then index
    };
    let mut v: Vec<u64> = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    v.sort_by_key(|&id| bucket(id)); // stable: ascending id within a bucket
    v
}

/// `QuorumServer.delimitedHostString`: IPv6 literals get brackets.
fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// One member as `QuorumServer.toString()` prints it:
/// `host:quorumPort:electionPort:participant|observer`, then
/// `;clientHost:clientPort` only if the configured line had a client part (a
/// client address taken from the static `clientPort` is flagged
/// `isClientAddrFromStatic` and not printed). A port-only client part was
/// parsed with host `0.0.0.0`, which is printed.
pub fn server_line_value(s: &ServerSpec) -> String {
    let role = if s.observer {
        "observer"
    } else {
        "participant"
    };
    let mut v = format!(
        "{}:{}:{}:{}",
        delimited(&s.host),
        s.quorum_port,
        s.election_port,
        role
    );
    if let Some((host, port)) = &s.client_addr {
        v.push_str(&format!(";{}:{}", delimited(host), port));
    }
    v
}

/// The config text exactly as `QuorumMaj.toString()` builds it: one
/// `server.<id>=<value>\n` per member in [`java_member_order`], then
/// `version=<Long.toHexString(version)>` with no trailing newline.
pub fn config_text<'a>(servers: impl IntoIterator<Item = &'a ServerSpec>, version: i64) -> String {
    let by_id: BTreeMap<u64, &ServerSpec> = servers.into_iter().map(|s| (s.id, s)).collect();
    let ids: Vec<u64> = by_id.keys().copied().collect();
    let mut out = String::new();
    for id in java_member_order(&ids) {
        if let Some(s) = by_id.get(&id) {
            out.push_str(&format!("server.{id}={}\n", server_line_value(s)));
        }
    }
    out.push_str(&format!("version={:x}", version as u64));
    out
}

/// A peer's config text, as far as we understand it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedConfig {
    pub servers: BTreeMap<u64, ServerSpec>,
    /// The `version` key (hex); 0 when absent, as `QuorumMaj` defaults it.
    pub version: i64,
    /// `group*`/`weight*` keys were present: Java would build a
    /// `QuorumHierarchical`, whose groups and weights we do not interpret.
    pub hierarchical: bool,
}

fn cfg_err(msg: String) -> WireError {
    WireError::Config(msg)
}

/// Parses a peer's config text and rejects what a 3.8 receiver would not
/// accept: keys other than `server.N`, `version`, `group*`, `weight*`
/// (ConfigException, logged), a non-numeric `N` or non-hex version
/// (NumberFormatException, which kills Java's WorkerReceiver), bad server
/// lines (ConfigException, or IllegalArgumentException for a port out of
/// range), and observers without a quorum of participants. Text that is
/// not UTF-8 is decoded with U+FFFD as Java's `new String(b, UTF_8)` does.
/// Negative server ids, which Java accepts, are rejected because
/// [`ServerSpec`] ids are unsigned.
pub fn parse_config_text(b: &[u8]) -> Result<ParsedConfig, WireError> {
    let text = String::from_utf8_lossy(b);
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in load_properties(&text) {
        props.insert(k, v); // Properties.put: a later key replaces an earlier one
    }
    let mut cfg = ParsedConfig {
        servers: BTreeMap::new(),
        version: 0,
        hierarchical: false,
    };
    for (key, value) in &props {
        let k = key.trim();
        if k.starts_with("group") || k.starts_with("weight") {
            cfg.hierarchical = true;
        } else if let Some(n) = key.strip_prefix("server.") {
            let id: i64 = n
                .parse()
                .map_err(|_| cfg_err(format!("server id '{n}' is not a number")))?;
            let id = u64::try_from(id)
                .map_err(|_| cfg_err(format!("negative server id {id} is unsupported")))?;
            let spec = parse_server_value(id, value)
                .map_err(|e| cfg_err(format!("server.{id}={value}: {e}")))?;
            cfg.servers.insert(id, spec);
        } else if key == "version" {
            cfg.version = i64::from_str_radix(value, 16)
                .map_err(|_| cfg_err(format!("version '{value}' is not a hex long")))?;
        } else {
            return Err(cfg_err(format!("unrecognised parameter: {k}")));
        }
    }
    let voters = cfg.servers.values().filter(|s| !s.observer).count();
    let observers = cfg.servers.len() - voters;
    if voters <= 1 && observers > 0 {
        return Err(cfg_err(format!(
            "{observers} observers with {voters} participants (parseDynamicConfig rejects it)"
        )));
    }
    Ok(cfg)
}

/// `String.split` as Java does it: trailing empty strings are removed, and
/// input without the separator is returned whole.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut v: Vec<&str> = s.split(sep).collect();
    while v.last() == Some(&"") {
        v.pop();
    }
    v
}

/// `ConfigUtils.getHostAndPort`: `[v6]:port...` or a plain `:` split.
fn host_and_port(s: &str) -> Result<Vec<String>, String> {
    if let Some(inner) = s.strip_prefix('[') {
        let i = inner
            .find(']')
            .ok_or(format!("{s} starts with '[' but has no ']'"))?;
        let host = &inner[..i];
        // Java skips the one character after ']' without checking it.
        let rest = inner.get(i + 1..).unwrap_or_default();
        let mut chars = rest.chars();
        if chars.next().is_none() {
            return Ok(vec![host.to_string()]);
        }
        let after = chars.as_str();
        if after.is_empty() {
            return Err(format!("{s} has no port after the colon"));
        }
        let mut v = vec![host.to_string()];
        v.extend(java_split(after, ':').into_iter().map(str::to_string));
        return Ok(v);
    }
    Ok(java_split(s, ':').into_iter().map(str::to_string).collect())
}

/// `Integer.parseInt` then `new InetSocketAddress`'s range check.
fn port(s: &str) -> Result<u16, String> {
    let p: i32 = s
        .parse()
        .map_err(|_| format!("port '{s}' is not a number"))?;
    u16::try_from(p).map_err(|_| format!("port {p} out of range (fatal to Java's receiver)"))
}

/// `QuorumServer.initializeWithAddressString` with multiAddress disabled.
fn parse_server_value(id: u64, value: &str) -> Result<ServerSpec, String> {
    let parts = java_split(value, ';');
    if parts.len() > 2 {
        return Err("more than one ';'".into());
    }
    let client_addr = match parts.get(1) {
        None => None,
        Some(c) => {
            let cp = host_and_port(c)?;
            match cp.as_slice() {
                [p] => Some(("0.0.0.0".to_string(), port(p)?)),
                [h, p] => Some((h.clone(), port(p)?)),
                _ => return Err("client part is not port or host:port".into()),
            }
        }
    };
    let addr = parts.first().copied().unwrap_or_default();
    if addr.contains('|') {
        return Err("multiple addresses while multiAddress is disabled".into());
    }
    let sp = host_and_port(addr)?;
    if sp.len() < 3 || sp.len() > 4 {
        return Err("expected host:port:port[:type]".into());
    }
    let (quorum_port, election_port) = (port(&sp[1])?, port(&sp[2])?);
    if quorum_port == election_port {
        return Err("quorum and election port must differ".into());
    }
    let observer = match sp.get(3).map(|t| t.trim().to_lowercase()).as_deref() {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(t) => return Err(format!("unrecognised peertype: {t}")),
    };
    Ok(ServerSpec {
        id,
        host: sp[0].clone(),
        quorum_port,
        election_port,
        observer,
        client_addr,
    })
}

/// The logical lines of `java.util.Properties.load`: comments (`#`, `!`)
/// and blank lines skipped, `\` line continuations joined, the key ended by
/// the first unescaped `=`, `:` or whitespace, escapes (`\t \n \r \f \uXXXX`,
/// `\x` = `x`) resolved, leading whitespace of the value stripped.
fn load_properties(text: &str) -> Vec<(String, String)> {
    let is_ws = |c: char| c == ' ' || c == '\t' || c == '\x0c';
    let mut out = Vec::new();
    let text = text.replace("\r\n", "\n");
    let mut lines = text.split(['\n', '\r']);
    while let Some(first) = lines.next() {
        let mut line = first.trim_start_matches(is_ws).to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        while ends_with_odd_backslashes(&line) {
            line.pop();
            match lines.next() {
                Some(next) => line.push_str(next.trim_start_matches(is_ws)),
                None => break,
            }
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut key_end = chars.len();
        while i < chars.len() {
            match chars[i] {
                '\\' => i += 2,
                '=' | ':' => {
                    key_end = i;
                    break;
                }
                c if is_ws(c) => {
                    key_end = i;
                    break;
                }
                _ => i += 1,
            }
        }
        let key_end = key_end.min(chars.len());
        let mut j = key_end;
        while j < chars.len() && is_ws(chars[j]) {
            j += 1;
        }
        if j < chars.len() && (chars[j] == '=' || chars[j] == ':') {
            j += 1;
        }
        while j < chars.len() && is_ws(chars[j]) {
            j += 1;
        }
        out.push((unescape(&chars[..key_end]), unescape(&chars[j..])));
    }
    out
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

fn unescape(cs: &[char]) -> String {
    let mut out = String::new();
    let mut it = cs.iter().copied();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = it.by_ref().take(4).collect();
                let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                out.push(ch.unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nserver.3=127.0.0.1:2890:3890:participant\nversion=0";

    fn spec(id: u64, q: u16, e: u16) -> ServerSpec {
        ServerSpec {
            id,
            host: "127.0.0.1".into(),
            quorum_port: q,
            election_port: e,
            observer: false,
            client_addr: None,
        }
    }

    fn captured_servers() -> Vec<ServerSpec> {
        vec![
            spec(3, 2890, 3890),
            spec(1, 2888, 3888),
            spec(2, 2889, 3889),
        ]
    }

    #[test]
    fn builds_the_captured_text() {
        let t = config_text(&captured_servers(), 0);
        assert_eq!(t.len(), 132);
        assert_eq!(t, CAPTURED);
    }

    #[test]
    fn parses_the_captured_text_back() {
        let p = parse_config_text(CAPTURED.as_bytes()).unwrap();
        assert_eq!(p.version, 0);
        assert!(!p.hierarchical);
        let want: Vec<ServerSpec> = {
            let mut v = captured_servers();
            v.sort_by_key(|s| s.id);
            v
        };
        assert_eq!(p.servers.values().cloned().collect::<Vec<_>>(), want);
        assert_eq!(config_text(p.servers.values(), p.version), CAPTURED);
    }

    #[test]
    fn client_parts_roles_and_hex_version() {
        let mut a = spec(1, 2888, 3888);
        a.client_addr = Some(("0.0.0.0".into(), 2181));
        let mut b = spec(2, 2889, 3889);
        b.observer = true;
        b.client_addr = Some(("10.0.0.2".into(), 2182));
        let mut c = spec(3, 2890, 3890);
        c.host = "::1".into();
        let t = config_text([&a, &b, &c], 0x1_0000_0000);
        assert_eq!(
            t,
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.2=127.0.0.1:2889:3889:observer;10.0.0.2:2182\n\
             server.3=[::1]:2890:3890:participant\nversion=100000000"
        );
        let p = parse_config_text(t.as_bytes()).unwrap();
        assert_eq!(p.version, 0x1_0000_0000);
        assert_eq!(p.servers[&1], a);
        assert_eq!(p.servers[&2], b);
        assert_eq!(p.servers[&3], c);
        assert_eq!(
            config_text(&[spec(1, 1, 2)], -1),
            "server.1=127.0.0.1:1:2:participant\nversion=ffffffffffffffff"
        );
        // A port-only client part is host 0.0.0.0, as QuorumServer parses it.
        let p = parse_config_text(b"server.1=h:1:2;2181\nserver.2=h:3:4\nversion=0").unwrap();
        assert_eq!(p.servers[&1].client_addr, Some(("0.0.0.0".into(), 2181)));
    }

    #[test]
    fn java_hashmap_order() {
        assert_eq!(java_member_order(&[3, 1, 2]), vec![1, 2, 3]);
        assert_eq!(java_member_order(&[1, 16, 17, 2]), vec![16, 1, 17, 2]);
        // 13 members: the map has resized to 32 buckets.
        let ids: Vec<u64> = (20..33).collect();
        let order = java_member_order(&ids);
        assert_eq!(&order[..2], &[32, 20]);
        // High bits fold in: Long.hashCode(1<<32) = 1, spread(65536) = 65537.
        assert_eq!(
            java_member_order(&[2, 1 << 32, 0x10000]),
            vec![0x10000, 1 << 32, 2]
        );
    }

    #[test]
    fn properties_syntax() {
        let p = parse_config_text(
            b"# comment\n  ! also\n\nserver.1 = h:1:2\r\nserver.2:h:3:4:OBSERVER \nserver.3\th:5:\\\r\n   6\nversion  =  a\n",
        );
        let p = p.unwrap();
        assert_eq!(p.version, 10);
        assert!(p.servers[&2].observer);
        assert_eq!(p.servers[&3].election_port, 6);
        assert_eq!(p.servers.len(), 3);
    }

    #[test]
    fn rejects_what_java_rejects() {
        for bad in [
            &b"server.x=h:1:2\nversion=0"[..],
            b"server.1=h:1:2\nversion=zz",
            b"server.1=h:1:2\nversion=0 ",
            b"server.1=h:1:2\nversion=",
            b"clientPort=2181\nversion=0",
            b"server.1=h:1\nversion=0",
            b"server.1=h:1:1\nversion=0",
            b"server.1=h:1:70000\nversion=0",
            b"server.1=h:1:2:leader\nversion=0",
            b"server.1=h:1:2|h:3:4\nversion=0",
            b"server.1=h:1:2;a:b:c\nversion=0",
            b"server.1=h:1:2;c;d\nversion=0",
            b"server.-1=h:1:2\nversion=0",
            b"server.1=h:1:2\nserver.2=h:3:4:observer\nversion=0",
            b"server.1=[::1:1:2\nversion=0",
        ] {
            let e = parse_config_text(bad);
            assert!(e.is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
            assert!(e
                .unwrap_err()
                .to_string()
                .starts_with("election config text: "));
        }
        let p =
            parse_config_text(b"group.1=1:2:3\nweight.1=1\nserver.1=h:1:2\nversion=+1").unwrap();
        assert!(p.hierarchical);
        assert_eq!(p.version, 1);
        assert!(parse_config_text(b"").is_ok());
        assert!(parse_config_text(&[0xff, b'=', b'1']).is_err());
    }
}
