//! `create [-s] [-e] [-c] [-t ttl] path [data] [acl]`

use serde_json::json;
use zkproto::consts::CreateMode;
use zkproto::records::Acl;
use zkproto::ErrorCode;

use super::{client, usage_err, CmdError, CmdResult, OptSpec};
use crate::acl_parse;
use crate::shell::Shell;

pub const USAGE: &str = "[-s] [-e] [-c] [-t ttl] path [data] [acl]";

const SPEC: OptSpec = OptSpec {
    flags: &["s", "e", "c"],
    valued: &["t"],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let o = SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("create"));
    }
    let (e, s, c, t) = (o.has("e"), o.has("s"), o.has("c"), o.has("t"));
    if c && (e || s) {
        return Err(CmdError::Usage(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
                .into(),
        ));
    }
    let ttl = match o.value("t") {
        None => None,
        Some(v) => Some(
            super::parse_i64(v)
                .ok_or_else(|| CmdError::Usage("-t argument must be a long value".into()))?,
        ),
    };
    if t && e {
        return Err(CmdError::Usage(
            "TTLs cannot be used with Ephemeral znodes".into(),
        ));
    }
    if t && c {
        return Err(CmdError::Usage(
            "TTLs cannot be used with Container znodes".into(),
        ));
    }
    let mode = match (e, s, c, t) {
        (true, true, _, _) => CreateMode::EphemeralSequential,
        (true, false, _, _) => CreateMode::Ephemeral,
        (false, true, _, true) => CreateMode::PersistentSequentialWithTtl,
        (false, true, _, false) => CreateMode::PersistentSequential,
        (false, false, true, _) => CreateMode::Container,
        (false, false, false, true) => CreateMode::PersistentWithTtl,
        _ => CreateMode::Persistent,
    };
    if let Some(ttl) = ttl {
        // EphemeralType.TTL.toEphemeralOwner's range check.
        if ttl > zkproto::consts::MAX_TTL || ttl <= 0 {
            return Err(CmdError::Usage(format!(
                "ttl must be positive and cannot be larger than: {}",
                zkproto::consts::MAX_TTL
            )));
        }
    }
    let path = o.args[1].clone();
    let data = o.args.get(2).map(|d| d.as_bytes().to_vec());
    let acl: Vec<Acl> = match o.args.get(3) {
        None => Acl::open_unsafe(),
        Some(a) => {
            let parsed = acl_parse::parse(a);
            for w in &parsed.warnings {
                sh.out.err_line(w);
            }
            parsed.acl
        }
    };
    zkproto::path::validate_create_path(&path, mode.is_sequential()).map_err(CmdError::Usage)?;
    if acl.is_empty() {
        // The Java client rejects an empty ACL before sending, without a path.
        sh.out.err_line("KeeperErrorCode = InvalidACL");
        return Err(CmdError::Keeper {
            code: ErrorCode::InvalidAcl,
            path: None,
        });
    }
    let zk = client(sh)?;
    match zk.create(&path, data.as_deref(), &acl, mode, ttl).await {
        Ok((created, _stat)) => {
            if sh.out.is_json() {
                sh.out.json(json!({ "created": created }));
            } else {
                sh.out.note(&format!("Created {created}"));
            }
            Ok(())
        }
        Err(ErrorCode::InvalidAcl) => {
            sh.out.err_line(&super::generic_keeper_message(
                ErrorCode::InvalidAcl,
                Some(&path),
            ));
            Err(CmdError::keeper(ErrorCode::InvalidAcl, &path))
        }
        Err(ErrorCode::EphemeralOnLocalSession) => {
            sh.out
                .err_line("Unable to create ephemeral node on a local session");
            Err(CmdError::keeper(ErrorCode::EphemeralOnLocalSession, &path))
        }
        Err(code) => Err(CmdError::keeper(code, &path)),
    }
}
