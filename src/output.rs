//! How results reach the user: zkCli's text formats (the default, byte for
//! byte), one JSON value per line (`--output json`, for scripts), or tables
//! (`--output table`, for people).
//!
//! Commands never call `println!` themselves; they go through [`Out`] so the
//! stream (stdout vs stderr, as zkCli routes it) and the format are decided in
//! one place.

use std::io::Write;

use chrono::{DateTime, TimeZone, Utc};
use colored::Colorize;
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::{json, Value};
use zkproto::consts::{event, perms, state};
use zkproto::records::{Acl, Stat};

use crate::client::WatchedEvent;

/// The `--output` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// zkCli's formats, byte for byte.
    Text,
    /// One JSON value per result on stdout; errors as JSON on stderr.
    Json,
    /// Tables for stat, ls -s, getAcl and cluster; zkCli text otherwise.
    Table,
}

/// A hook run before anything is printed (see [`Out::set_before_print`]).
pub type Hook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Output sink shared by all commands of one shell.
#[derive(Clone)]
pub struct Out {
    pub format: Format,
    /// ANSI colours; only ever true when stdout is a terminal.
    pub color: bool,
    before_print: Option<Hook>,
}

impl Out {
    pub fn new(format: Format, color: bool) -> Out {
        Out {
            format,
            color,
            before_print: None,
        }
    }

    /// Batch mode prints pending watch events before any command output, so
    /// an event that reached the client before a command's reply shows up
    /// before that command's result, as in zkCli.
    pub fn set_before_print(&mut self, hook: Hook) {
        self.before_print = Some(hook);
    }

    fn pre(&self) {
        if let Some(h) = &self.before_print {
            h();
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    pub fn is_table(&self) -> bool {
        self.format == Format::Table
    }

    /// One line on stdout (the line may itself contain newlines).
    pub fn line(&self, s: &str) {
        self.pre();
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{s}");
        let _ = o.flush();
    }

    /// Text without a newline on stdout (`setAcl -R` prints failures this way).
    pub fn raw(&self, s: &str) {
        self.pre();
        let mut o = std::io::stdout().lock();
        let _ = write!(o, "{s}");
        let _ = o.flush();
    }

    /// One line on stderr; red on a colour terminal.
    pub fn err_line(&self, s: &str) {
        self.pre();
        let mut e = std::io::stderr().lock();
        if self.color {
            let _ = writeln!(e, "{}", s.red());
        } else {
            let _ = writeln!(e, "{s}");
        }
    }

    /// An informational line on stderr (e.g. `Created /p`): green on colour.
    pub fn note(&self, s: &str) {
        self.pre();
        let mut e = std::io::stderr().lock();
        if self.color {
            let _ = writeln!(e, "{}", s.green());
        } else {
            let _ = writeln!(e, "{s}");
        }
    }

    /// One compact JSON value on stdout.
    pub fn json(&self, v: Value) {
        self.line(&v.to_string());
    }

    /// A stat block in the current format (text: zkCli's 11 lines).
    pub fn stat_block(&self, stat: &Stat) {
        if self.is_table() {
            self.line(&stat_table(stat).to_string());
        } else {
            self.line(&stat_text(stat));
        }
    }

    /// A table (only used in table mode or by table-only commands).
    pub fn table(&self, t: &Table) {
        self.line(&t.to_string());
    }
}

/// A new table in the style used everywhere.
pub fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !header.is_empty() {
        t.set_header(header.to_vec());
    }
    t
}

/// zkCli's `StatPrinter`: 11 `key = value` lines (no trailing newline).
pub fn stat_text(s: &Stat) -> String {
    stat_rows(s)
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn stat_rows(s: &Stat) -> [(&'static str, String); 11] {
    [
        ("cZxid", hex(s.czxid)),
        ("ctime", java_date(s.ctime)),
        ("mZxid", hex(s.mzxid)),
        ("mtime", java_date(s.mtime)),
        ("pZxid", hex(s.pzxid)),
        ("cversion", s.cversion.to_string()),
        ("dataVersion", s.version.to_string()),
        ("aclVersion", s.aversion.to_string()),
        ("ephemeralOwner", hex(s.ephemeral_owner)),
        ("dataLength", s.data_length.to_string()),
        ("numChildren", s.num_children.to_string()),
    ]
}

/// The stat as a two-column table.
pub fn stat_table(s: &Stat) -> Table {
    let mut t = new_table(&["field", "value"]);
    for (k, v) in stat_rows(s) {
        t.add_row(vec![k.to_string(), v]);
    }
    t
}

/// The stat as a JSON object; times are milliseconds since the epoch.
pub fn stat_json(s: &Stat) -> Value {
    json!({
        "cZxid": s.czxid,
        "ctime": s.ctime,
        "mZxid": s.mzxid,
        "mtime": s.mtime,
        "pZxid": s.pzxid,
        "cversion": s.cversion,
        "dataVersion": s.version,
        "aclVersion": s.aversion,
        "ephemeralOwner": s.ephemeral_owner,
        "dataLength": s.data_length,
        "numChildren": s.num_children,
    })
}

/// Java's `Long.toHexString` with a `0x` prefix: lower case, unpadded, and
/// two's complement for negative values (a TTL node's ephemeralOwner).
pub fn hex(v: i64) -> String {
    format!("0x{:x}", v as u64)
}

/// Java's `Date.toString()`: `EEE MMM dd HH:mm:ss zzz yyyy` in the local time
/// zone. The zone comes from `TZ` (an IANA name such as `Europe/Berlin`), then
/// `/etc/timezone`, and is UTC otherwise — the same places the JVM looks.
pub fn java_date(ms: i64) -> String {
    let utc: DateTime<Utc> = match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t,
        None => return ms.to_string(),
    };
    match local_tz() {
        Some(tz) => utc
            .with_timezone(&tz)
            .format("%a %b %d %H:%M:%S %Z %Y")
            .to_string(),
        None => utc.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
    }
}

fn local_tz() -> Option<chrono_tz::Tz> {
    use std::sync::OnceLock;
    static TZ: OnceLock<Option<chrono_tz::Tz>> = OnceLock::new();
    *TZ.get_or_init(|| {
        let name = match std::env::var("TZ") {
            Ok(v) => v,
            Err(_) => std::fs::read_to_string("/etc/timezone").ok()?,
        };
        let name = name.trim().trim_start_matches(':');
        if name.is_empty() || name == "UTC" || name == "Etc/UTC" {
            return None;
        }
        name.parse::<chrono_tz::Tz>().ok()
    })
}

/// Java `List.toString`: `[a, b, c]`.
pub fn java_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    format!("[{}]", parts.join(", "))
}

/// jute's `Id.toString()` as zkCli prints it in `getAcl`: `'scheme,'id`,
/// with `, % } \n \r \0` escaped inside the strings.
pub fn jute_id(scheme: &str, id: &str) -> String {
    format!("'{},'{}", jute_escape(scheme), jute_escape(id))
}

fn jute_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => o.push_str("%00"),
            '\n' => o.push_str("%0A"),
            '\r' => o.push_str("%0D"),
            ',' => o.push_str("%2C"),
            '}' => o.push_str("%7D"),
            '%' => o.push_str("%25"),
            c => o.push(c),
        }
    }
    o
}

/// `getAcl`'s two lines per entry.
pub fn acl_text(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| {
            format!(
                "{}\n: {}",
                jute_id(&a.id.scheme, &a.id.id),
                perms::to_letters(a.perms)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn acl_json(acl: &[Acl]) -> Value {
    Value::Array(
        acl.iter()
            .map(|a| json!({"scheme": a.id.scheme, "id": a.id.id, "perms": perms::to_letters(a.perms)}))
            .collect(),
    )
}

pub fn acl_table(acl: &[Acl]) -> Table {
    let mut t = new_table(&["scheme", "id", "perms"]);
    for a in acl {
        t.add_row(vec![
            a.id.scheme.clone(),
            a.id.id.clone(),
            perms::to_letters(a.perms),
        ]);
    }
    t
}

/// netty's `ByteBufUtil.prettyHexDump`, which zkCli 3.9 uses for `get -x`.
/// Empty input gives an empty string.
pub fn hexdump(data: &[u8]) -> String {
    if data.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    s.push_str("         +-------------------------------------------------+\n");
    s.push_str("         |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |\n");
    s.push_str("+--------+-------------------------------------------------+----------------+");
    for (row, chunk) in data.chunks(16).enumerate() {
        s.push_str(&format!("\n|{:08x}|", (row as u64) << 4));
        for b in chunk {
            s.push_str(&format!(" {b:02x}"));
        }
        s.push_str(&"   ".repeat(16 - chunk.len()));
        s.push_str(" |");
        for &b in chunk {
            s.push(if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            });
        }
        s.push_str(&" ".repeat(16 - chunk.len()));
        s.push('|');
    }
    s.push_str("\n+--------+-------------------------------------------------+----------------+");
    s
}

/// `WatchedEvent.toString()` of ZooKeeper 3.8 (3.9 appends ` zxid: N`; we
/// keep the 3.8 form that zkCli 3.8 scripts and our tests compare against).
pub fn event_text(ev: &WatchedEvent) -> String {
    format!(
        "WatchedEvent state:{} type:{} path:{}",
        state::name(ev.state),
        event::name(ev.event_type),
        ev.path.as_deref().unwrap_or("null")
    )
}

/// zkCli's asynchronous block: `\nWATCHER::\n\nWatchedEvent ...\n`.
pub fn watcher_block(ev: &WatchedEvent, color: bool) -> String {
    if color {
        format!(
            "\n{}\n\n{}\n",
            "WATCHER::".cyan().bold(),
            event_text(ev).cyan()
        )
    } else {
        format!("\nWATCHER::\n\n{}\n", event_text(ev))
    }
}

/// One JSON line per event.
pub fn event_json(ev: &WatchedEvent) -> Value {
    json!({
        "event": event::name(ev.event_type),
        "state": state::name(ev.state),
        "path": ev.path,
        "zxid": ev.zxid,
    })
}

/// Data as zkCli prints it without `-b`/`-x`: UTF-8 with U+FFFD for bad bytes.
pub fn data_text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_unpadded_two_complement() {
        assert_eq!(hex(0), "0x0");
        assert_eq!(hex(0x1a), "0x1a");
        assert_eq!(hex(-1), "0xffffffffffffffff");
    }

    #[test]
    fn epoch_is_java_date() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
    }

    #[test]
    fn netty_hexdump() {
        let d = hexdump(b"zookeeper");
        assert_eq!(
            d,
            "         +-------------------------------------------------+\n\
             \x20        |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |\n\
             +--------+-------------------------------------------------+----------------+\n\
             |00000000| 7a 6f 6f 6b 65 65 70 65 72                      |zookeeper       |\n\
             +--------+-------------------------------------------------+----------------+"
        );
        let two_rows = hexdump(&[0u8; 17]);
        assert!(two_rows.contains("\n|00000010| 00    "));
        assert_eq!(hexdump(b""), "");
    }

    #[test]
    fn acl_layout() {
        let acl = vec![Acl::new(31, "world", "anyone"), Acl::new(1, "ip", "1,2")];
        assert_eq!(acl_text(&acl), "'world,'anyone\n: cdrwa\n'ip,'1%2C2\n: r");
    }

    #[test]
    fn lists() {
        assert_eq!(java_list::<&str>(&[]), "[]");
        assert_eq!(java_list(&["a", "b"]), "[a, b]");
    }
}
