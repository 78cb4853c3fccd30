//! zkCli's ACL syntax (`AclParser`): `scheme:id:perms[,scheme:id:perms...]`.
//!
//! Each entry is split at its first and last `:` so a digest id keeps its
//! inner colon (`digest:user:hash=:cdrwa`). Bad entries and unknown permission
//! letters are reported as warnings and skipped, exactly as zkCli does, so the
//! remaining valid entries are still used (and an empty list makes the server
//! answer InvalidACL).

use zkproto::consts::perms;
use zkproto::records::Acl;

/// The parsed list plus the warnings zkCli would print on stderr.
pub struct Parsed {
    pub acl: Vec<Acl>,
    pub warnings: Vec<String>,
}

pub fn parse(s: &str) -> Parsed {
    let mut acl = Vec::new();
    let mut warnings = Vec::new();
    // Java's String.split drops trailing empty strings.
    let mut parts: Vec<&str> = s.split(',').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    for a in parts {
        let (first, last) = match (a.find(':'), a.rfind(':')) {
            (Some(f), Some(l)) if f != l => (f, l),
            _ => {
                warnings.push(format!("{a} does not have the form scheme:id:perm"));
                continue;
            }
        };
        let mut p = 0;
        for c in a[last + 1..].chars() {
            match c {
                'r' => p |= perms::READ,
                'w' => p |= perms::WRITE,
                'c' => p |= perms::CREATE,
                'd' => p |= perms::DELETE,
                'a' => p |= perms::ADMIN,
                other => warnings.push(format!("Unknown perm type: {other}")),
            }
        }
        acl.push(Acl::new(p, &a[..first], &a[first + 1..last]));
    }
    Parsed { acl, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keeps_inner_colon() {
        let p = parse("digest:user1:+owfoSBn/am19roBPzR1/MfCblE=:cdrwa,world:anyone:r");
        assert!(p.warnings.is_empty());
        assert_eq!(p.acl[0].id.scheme, "digest");
        assert_eq!(p.acl[0].id.id, "user1:+owfoSBn/am19roBPzR1/MfCblE=");
        assert_eq!(p.acl[0].perms, perms::ALL);
        assert_eq!(p.acl[1].perms, perms::READ);
    }

    #[test]
    fn bad_entries_warn() {
        let p = parse("world");
        assert!(p.acl.is_empty());
        assert_eq!(
            p.warnings,
            vec!["world does not have the form scheme:id:perm"]
        );
        let p = parse("world:anyone:rz");
        assert_eq!(p.acl.len(), 1);
        assert_eq!(p.warnings, vec!["Unknown perm type: z"]);
    }
}
