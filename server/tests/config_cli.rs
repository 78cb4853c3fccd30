//! `zkserver` on configurations it must not take silently: an ensemble config
//! (checked with its myid, one-line errors) and keys ZooKeeper acts on that we
//! accept but ignore (one WARN line each at start).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn write_cfg(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let p = dir.join("zoo.cfg");
    std::fs::write(
        &p,
        format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n{extra}",
            data.display(),
            free_port()
        ),
    )
    .unwrap();
    p
}

#[test]
fn an_ensemble_config_is_checked_with_its_myid() {
    let d = tempfile::tempdir().unwrap();
    let cfg = write_cfg(
        d.path(),
        "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n",
    );
    let myid = d.path().join("data").join("myid");
    // No myid: one line naming the file, for both commands, exit 2.
    for cmd in ["check-config", "start-foreground"] {
        let out = Command::new(zkserver_bin())
            .arg(cmd)
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert_eq!(err.lines().count(), 1, "{cmd}: one line: {err}");
        assert!(err.contains("myid"), "{cmd}: {err}");
        assert!(
            err.contains(&myid.display().to_string()),
            "{cmd}: names the file: {err}"
        );
    }
    // A myid with no server line of its own.
    std::fs::write(&myid, "7\n").unwrap();
    let out = Command::new(zkserver_bin())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains('7'), "{err}");
    // A good one is an ensemble member.
    std::fs::write(&myid, "2\n").unwrap();
    let out = Command::new(zkserver_bin())
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{so}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        so.contains("configuration OK") && so.contains("server.2") && so.contains("3 voters"),
        "{so}"
    );
    // One server line is still standalone.
    let d1 = tempfile::tempdir().unwrap();
    let one = write_cfg(d1.path(), "server.1=127.0.0.1:2888:3888\n");
    let out = Command::new(zkserver_bin())
        .arg("check-config")
        .arg(&one)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ignored_keys_get_one_warning_each_at_start() {
    let mut s = Server::start(
        "secureClientPort=2281\nmetricsProvider.httpPort=7000\nadmin.enableServer=false\n",
    );
    assert_serves(&mut s);
    let log = s.settled_log_since(0, Duration::from_secs(2));
    let warned: Vec<&String> = log.iter().filter(|l| l.contains("is ignored")).collect();
    assert_eq!(warned.len(), 2, "{log:#?}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("secureClientPort=2281"),
        "{warned:?}"
    );
    assert!(
        warned[1].contains("metricsProvider.httpPort=7000"),
        "{warned:?}"
    );
}

/// `srvr` and `--version` report the real build: the commit this binary was
/// built from and a build date, never the epoch.
#[test]
fn srvr_and_version_report_the_real_build() {
    let out = Command::new(zkserver_bin())
        .arg("--version")
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{v}");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(c) = &commit {
        // Built from this checkout (a commit made since the build reruns the build script).
        assert!(v.contains(&format!("commit {c}")), "{v} vs HEAD {c}");
    }
    assert!(v.contains("built on 20") && !v.contains("1970"), "{v}");
    let mut s = Server::start("");
    assert_serves(&mut s);
    let srvr = four_letter(s.port, "srvr").unwrap();
    let line = srvr.lines().next().unwrap_or_default().to_string();
    assert!(line.starts_with("Zookeeper version: 3.8.0-"), "{line}");
    assert!(!line.contains("1970-01-01"), "{line}");
    assert!(
        line.ends_with(" UTC") && line.contains(", built on 20"),
        "{line}"
    );
    if let Some(c) = &commit {
        assert!(line.contains(c.as_str()), "{line} names commit {c}");
    }
}
