//! `setquota -n|-b|-N|-B val path`, `listquota path`, `delquota [-n|-b|-N|-B] path`,
//! operating on `/zookeeper/quota/<path>/zookeeper_limits` and
//! `zookeeper_stats` exactly as zkCli does.

use serde_json::json;
use zkproto::consts::CreateMode;
use zkproto::records::Acl;
use zkproto::ErrorCode;

use super::{check_path, client, exclusive, usage_err, zk_err, CmdError, CmdResult, OptSpec};
use crate::client::Client;
use crate::quota::{self, StatsTrack, BYTES, BYTES_HARD, COUNT, COUNT_HARD};
use crate::shell::Shell;

const GROUP: &[&str] = &["n", "b", "N", "B"];

const SET_SPEC: OptSpec = OptSpec {
    flags: &[],
    valued: &["n", "b", "N", "B"],
};

pub async fn setquota(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SET_SPEC.parse(args)?;
    exclusive(&o, GROUP)?;
    if !GROUP.iter().any(|g| o.has(g)) {
        return Err(CmdError::Usage("org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]".into()));
    }
    if o.args.len() < 2 {
        return Err(usage_err("setquota"));
    }
    let path = o.args[1].clone();
    if path.starts_with(quota::QUOTA_ROOT) {
        sh.out.err_line(&format!(
            "cannot set a quota under the path: {}",
            quota::QUOTA_ROOT
        ));
        return Err(CmdError::Silent(super::exit::USAGE));
    }
    let mut limits = StatsTrack::default();
    for k in [COUNT, BYTES, COUNT_HARD, BYTES_HARD] {
        limits.set(k, -1);
    }
    for (flag, key, is_count) in [
        ("n", COUNT, true),
        ("b", BYTES, false),
        ("N", COUNT_HARD, true),
        ("B", BYTES_HARD, false),
    ] {
        let Some(v) = o.value(flag) else { continue };
        let n = if is_count {
            super::parse_i32(v).map(i64::from)
        } else {
            super::parse_i64(v)
        };
        let Some(n) = n else {
            sh.out
                .err_line("NumberFormatException happens when parsing the option value");
            return Err(CmdError::Silent(super::exit::USAGE));
        };
        if is_count && n <= 0 {
            sh.out.err_line("the num quota must be greater than zero");
            return Err(CmdError::Silent(super::exit::USAGE));
        }
        if !is_count && n < 0 {
            sh.out
                .err_line("the bytes quota must be greater than or equal to zero");
            return Err(CmdError::Silent(super::exit::USAGE));
        }
        limits.set(key, n);
    }
    check_path(&path)?;
    let zk = client(sh)?;
    create_quota(sh, &zk, &path, &limits).await
}

async fn exists(zk: &Client, p: &str) -> Result<bool, CmdError> {
    Ok(zk.exists(p, false).await.map_err(zk_err(p))?.is_some())
}

async fn create_if_missing(zk: &Client, p: &str, data: Option<&[u8]>) -> CmdResult {
    if exists(zk, p).await? {
        return Ok(());
    }
    match zk
        .create(p, data, &Acl::open_unsafe(), CreateMode::Persistent, None)
        .await
    {
        Ok(_) | Err(ErrorCode::NodeExists) => Ok(()),
        Err(code) => Err(CmdError::keeper(code, p)),
    }
}

async fn read_track(zk: &Client, p: &str) -> Result<StatsTrack, CmdError> {
    let (data, _) = zk.get_data(p, false).await.map_err(zk_err(p))?;
    let text = String::from_utf8_lossy(data.as_deref().unwrap_or_default()).into_owned();
    StatsTrack::parse(&text).map_err(CmdError::Failed)
}

/// `SetQuotaCommand.createQuota`.
async fn create_quota(sh: &Shell, zk: &Client, path: &str, q: &StatsTrack) -> CmdResult {
    if !exists(zk, path).await? {
        return Err(CmdError::Failed(format!("{path} does not exist.")));
    }
    check_child_quota(zk, path).await?;
    check_parent_quota(zk, path).await?;
    if !exists(zk, quota::QUOTA_ROOT).await? {
        create_if_missing(zk, quota::PROC_ROOT, None).await?;
        create_if_missing(zk, quota::QUOTA_ROOT, None).await?;
    }
    let mut qpath = quota::QUOTA_ROOT.to_string();
    for part in path.split('/').filter(|s| !s.is_empty()) {
        qpath.push('/');
        qpath.push_str(part);
        create_if_missing(zk, &qpath, None).await?;
    }
    let stat_path = format!("{qpath}/{}", quota::STAT_NODE);
    let limit_path = format!("{qpath}/{}", quota::LIMIT_NODE);
    let (limits, stats) = if !exists(zk, &limit_path).await? {
        zk.create(
            &limit_path,
            Some(q.to_string().as_bytes()),
            &Acl::open_unsafe(),
            CreateMode::Persistent,
            None,
        )
        .await
        .map_err(zk_err(&limit_path))?;
        let mut s = StatsTrack::default();
        s.set(COUNT, 0);
        s.set(BYTES, 0);
        zk.create(
            &stat_path,
            Some(s.to_string().as_bytes()),
            &Acl::open_unsafe(),
            CreateMode::Persistent,
            None,
        )
        .await
        .map_err(zk_err(&stat_path))?;
        (
            read_track(zk, &limit_path).await?,
            read_track(zk, &stat_path).await?,
        )
    } else {
        let mut cur = read_track(zk, &limit_path).await?;
        for k in [COUNT, BYTES, COUNT_HARD, BYTES_HARD] {
            if q.get(k) > -1 {
                cur.set(k, q.get(k));
            }
        }
        let stats = read_track(zk, &stat_path).await?;
        (cur, stats)
    };
    // zkCli checks (and warns) before writing the updated limits.
    let count = stats.get(COUNT);
    let bytes = stats.get(BYTES);
    if (limits.get(COUNT) > -1 && limits.get(COUNT) < count)
        || (limits.get(COUNT_HARD) > -1 && limits.get(COUNT_HARD) < count)
    {
        sh.out.line(&format!(
            "[Warning]: the count quota you create is less than the existing count:{count}"
        ));
    }
    if (limits.get(BYTES) > -1 && limits.get(BYTES) < bytes)
        || (limits.get(BYTES_HARD) > -1 && limits.get(BYTES_HARD) < bytes)
    {
        sh.out.line(&format!(
            "[Warning]: the bytes quota you create is less than the existing bytes:{bytes}"
        ));
    }
    zk.set_data(&limit_path, Some(limits.to_string().as_bytes()), -1)
        .await
        .map_err(zk_err(&limit_path))?;
    Ok(())
}

/// No node below `path` may already have a quota.
async fn check_child_quota(zk: &Client, path: &str) -> CmdResult {
    let real = quota::quota_path(path);
    let mut nodes = Vec::new();
    match super::ls::visit_dfs(zk, &real, false, &mut |p| nodes.push(p.to_string())).await {
        Ok(()) => {}
        Err(CmdError::Keeper {
            code: ErrorCode::NoNode,
            ..
        }) => return Ok(()),
        Err(e) => return Err(e),
    }
    for qp in nodes {
        let children = match zk.get_children(&qp, false).await {
            Ok((c, _)) => c,
            Err(_) => continue,
        };
        if qp != real && children.iter().any(|c| c == quota::LIMIT_NODE) {
            return Err(CmdError::Failed(format!(
                "{path} has a child {} which has a quota",
                &qp[quota::QUOTA_ROOT.len()..]
            )));
        }
    }
    Ok(())
}

/// No ancestor of `path` may already have a quota.
async fn check_parent_quota(zk: &Client, path: &str) -> CmdResult {
    let parts: Vec<&str> = path.split('/').collect();
    let mut qp = quota::QUOTA_ROOT.to_string();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        qp.push('/');
        qp.push_str(part);
        let children = match zk.get_children(&qp, false).await {
            Ok((c, _)) => c,
            Err(ErrorCode::NoNode) => return Ok(()),
            Err(code) => return Err(CmdError::keeper(code, &qp)),
        };
        if children.is_empty() {
            return Ok(());
        }
        if qp != quota::quota_path(path) && children.iter().any(|c| c == quota::LIMIT_NODE) {
            return Err(CmdError::Failed(format!(
                "{path} has a parent {} which has a quota",
                &qp[quota::QUOTA_ROOT.len()..]
            )));
        }
    }
    Ok(())
}

pub async fn listquota(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = OptSpec {
        flags: &[],
        valued: &[],
    }
    .parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("listquota"));
    }
    let path = o.args[1].clone();
    let zk = client(sh)?;
    let limit_path = quota::limit_path(&path);
    if !sh.out.is_json() {
        sh.out.err_line(&format!("absolute path is {limit_path}"));
    }
    zkproto::path::validate_path(&limit_path).map_err(CmdError::Usage)?;
    let tracks = async {
        let l = read_track(&zk, &limit_path).await?;
        let s = read_track(&zk, &quota::stat_path(&path)).await?;
        Ok::<_, CmdError>((l, s))
    }
    .await;
    let (limits, stats) = match tracks {
        Ok(t) => t,
        Err(CmdError::Keeper {
            code: ErrorCode::NoNode,
            ..
        }) => {
            return Err(CmdError::Failed(format!(
                "quota for {path} does not exist."
            )));
        }
        Err(e) => return Err(e),
    };
    if sh.out.is_json() {
        sh.out
            .json(json!({"path": path, "quota": limits.to_json(), "stat": stats.to_json()}));
    } else {
        sh.out.line(&format!("Output quota for {path} {limits}"));
        sh.out.line(&format!("Output stat for {path} {stats}"));
    }
    Ok(())
}

const DEL_SPEC: OptSpec = OptSpec {
    flags: &["n", "b", "N", "B"],
    valued: &[],
};

pub async fn delquota(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = DEL_SPEC.parse(args)?;
    exclusive(&o, GROUP)?;
    if o.args.len() < 2 {
        return Err(usage_err("delquota"));
    }
    let path = o.args[1].clone();
    let zk = client(sh)?;
    let parent = quota::quota_path(&path);
    let limit_path = quota::limit_path(&path);
    zkproto::path::validate_path(&limit_path).map_err(CmdError::Usage)?;
    if !exists(&zk, &limit_path).await? {
        // zkCli prints this on stdout; it is a failure for us.
        if sh.out.is_json() {
            return Err(CmdError::Failed(format!("Quota does not exist for {path}")));
        }
        sh.out.line(&format!("Quota does not exist for {path}"));
        return Err(CmdError::Silent(super::exit::FAILED));
    }
    let r = async {
        let mut track = read_track(&zk, &limit_path).await?;
        if GROUP.iter().any(|g| o.has(g)) {
            for (flag, key) in [
                ("n", COUNT),
                ("b", BYTES),
                ("N", COUNT_HARD),
                ("B", BYTES_HARD),
            ] {
                if o.has(flag) {
                    track.set(key, -1);
                }
            }
            zk.set_data(&limit_path, Some(track.to_string().as_bytes()), -1)
                .await
                .map_err(zk_err(&limit_path))?;
        } else {
            let (children, _) = zk
                .get_children(&parent, false)
                .await
                .map_err(zk_err(&parent))?;
            for c in children {
                let p = format!("{parent}/{c}");
                zk.delete(&p, -1).await.map_err(zk_err(&p))?;
            }
            trim_proc_quotas(&zk, &parent).await?;
        }
        Ok::<_, CmdError>(())
    }
    .await;
    match r {
        Err(CmdError::Keeper {
            code: ErrorCode::NoNode,
            ..
        }) => Err(CmdError::Failed(format!(
            "quota for {path} does not exist."
        ))),
        other => other,
    }
}

/// Deletes empty quota parents up to (not including) `/zookeeper/quota`.
async fn trim_proc_quotas(zk: &Client, path: &str) -> CmdResult {
    let mut p = path.to_string();
    while p != quota::QUOTA_ROOT && p.starts_with(quota::QUOTA_ROOT) {
        let (children, _) = zk.get_children(&p, false).await.map_err(zk_err(&p))?;
        if !children.is_empty() {
            break;
        }
        zk.delete(&p, -1).await.map_err(zk_err(&p))?;
        match p.rfind('/') {
            Some(i) => p.truncate(i),
            None => break,
        }
    }
    Ok(())
}
