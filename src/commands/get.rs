//! `get [-s] [-w] [-b] [-x] path`

use base64::Engine;
use serde_json::json;

use super::{check_path, client, usage_err, zk_err, CmdResult, OptSpec};
use crate::output::{self, stat_json};
use crate::shell::Shell;

pub const USAGE: &str = "[-s] [-w] [-b] [-x] path";

const SPEC: OptSpec = OptSpec {
    flags: &["s", "w", "b", "x"],
    valued: &[],
};

pub async fn run(sh: &mut Shell, args: &[String]) -> CmdResult {
    let mut o = SPEC.parse(args)?;
    if o.args.len() < 2 {
        return Err(usage_err("get"));
    }
    if o.args.len() > 2 {
        sh.out.err_line(
            "'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead.",
        );
        o.opts.push(("w".into(), None));
    }
    let path = &o.args[1];
    check_path(path)?;
    let zk = client(sh)?;
    let (data, stat) = zk.get_data(path, o.has("w")).await.map_err(zk_err(path))?;
    if sh.out.is_json() {
        let mut v = json!({ "path": path });
        match &data {
            None => v["data"] = serde_json::Value::Null,
            Some(d) => match std::str::from_utf8(d) {
                Ok(s) if !o.has("b") && !o.has("x") => v["data"] = json!(s),
                _ => v["data_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(d)),
            },
        }
        if o.has("s") {
            v["stat"] = stat_json(&stat);
        }
        sh.out.json(v);
        return Ok(());
    }
    // zkCli formats the bytes of "null" when the node has no data.
    let bytes: &[u8] = data.as_deref().unwrap_or(b"null");
    let text = if o.has("x") {
        output::hexdump(bytes)
    } else if o.has("b") {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    } else {
        output::data_text(bytes)
    };
    sh.out.line(&text);
    if o.has("s") {
        sh.out.stat_block(&stat);
    }
    Ok(())
}
