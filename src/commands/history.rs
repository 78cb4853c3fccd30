//! `history` and `redo cmdno`, numbered like zkCli's prompt counter.

use super::{tokenize, CmdError, CmdResult};
use crate::shell::Shell;

/// The last 11 entries, `N - line`, including the `history` line itself.
pub fn history(sh: &mut Shell) -> CmdResult {
    let start = sh.count.saturating_sub(10);
    let lines: Vec<String> = (start..=sh.count)
        .map(|i| {
            format!(
                "{i} - {}",
                sh.history.get(&i).map(String::as_str).unwrap_or("null")
            )
        })
        .collect();
    if sh.out.is_json() {
        let entries: Vec<_> = (start..=sh.count)
            .filter_map(|i| {
                sh.history
                    .get(&i)
                    .map(|l| serde_json::json!({"n": i, "line": l}))
            })
            .collect();
        sh.out.json(serde_json::json!({ "history": entries }));
    } else {
        sh.out.line(&lines.join("\n"));
    }
    Ok(())
}

/// Java `Integer.decode`: decimal, `0x`/`#` hex, leading-0 octal, with sign.
fn java_decode(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .or_else(|| body.strip_prefix('#'))
    {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    if body.starts_with('-') || body.starts_with('+') {
        return None;
    }
    Some(if neg { -v } else { v })
}

pub async fn redo(sh: &mut Shell, args: &[String]) -> CmdResult {
    // zkCli: `redo` without a number does nothing.
    let Some(n) = args.get(1) else {
        return Ok(());
    };
    let i = java_decode(n)
        .ok_or_else(|| CmdError::Usage(format!("redo: not a command number: {n}")))?;
    if i < 0 || i >= sh.count as i64 {
        return Err(CmdError::Usage("Command index out of range".into()));
    }
    let line = sh.history.get(&(i as usize)).cloned().unwrap_or_default();
    let redone = tokenize(&line);
    if redone.first().map(String::as_str) == Some("redo") {
        return Err(CmdError::Usage("No redoing redos".into()));
    }
    sh.history.insert(sh.count, line);
    // Unlike zkCli (which reports 0), the redone command's outcome counts.
    super::dispatch(sh, redone).await
}

#[cfg(test)]
mod tests {
    use super::java_decode;

    #[test]
    fn decode() {
        assert_eq!(java_decode("12"), Some(12));
        assert_eq!(java_decode("0x10"), Some(16));
        assert_eq!(java_decode("010"), Some(8));
        assert_eq!(java_decode("-1"), Some(-1));
        assert_eq!(java_decode("abc"), None);
        assert_eq!(java_decode("--1"), None);
    }
}
