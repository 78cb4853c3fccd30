//! Authentication providers and ACL checks (`digest`, `ip`, `world`, `auth`,
//! `super`), with ZooKeeper's exact rules.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};
use zkproto::consts::ErrorCode;
use zkproto::records::{Acl, Id};

/// `user:BASE64(SHA1("user:password"))`, the digest id of `user:password`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or_default();
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The ids an AuthPacket adds to a connection, or AUTHFAILED. A digest whose
/// id equals the configured super digest also makes the caller `super`.
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    super_digest: Option<&str>,
) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" => {
            let s = String::from_utf8_lossy(auth);
            if !s.contains(':') {
                // ZooKeeper still computes a digest for a string with no
                // colon; the user name is then the whole string.
            }
            let id = digest_id(&s);
            let mut ids = vec![Id {
                scheme: "digest".into(),
                id: id.clone(),
            }];
            if super_digest.is_some_and(|sd| sd == id) {
                ids.push(Id {
                    scheme: "super".into(),
                    id: String::new(),
                });
            }
            Ok(ids)
        }
        // The ip provider authenticates the connection's own address.
        "ip" => Ok(Vec::new()),
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// Orders a connection's identities the way ZooKeeper iterates its auth-info
/// hash set (by hash bucket, then insertion), so `whoami` and the expansion of
/// the `auth` ACL scheme list them in ZooKeeper's order.
pub fn java_hash_set_order(ids: &mut [Id]) {
    // Table size of a Java hash set holding ids.len() entries (load 0.75).
    let mut n: u32 = 16;
    while (ids.len() as u32) * 4 > n * 3 {
        n *= 2;
    }
    ids.sort_by_key(|id| {
        let h = 17i32
            .wrapping_mul(37)
            .wrapping_add(java_string_hash(&id.scheme))
            .wrapping_mul(37)
            .wrapping_add(java_string_hash(&id.id)) as u32;
        (h ^ (h >> 16)) & (n - 1)
    });
}

/// Whether `scheme` has a provider whose ids count for the `auth` ACL scheme
/// (ip ids are automatic, not authenticated).
fn is_authenticated_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "super" | "x509" | "sasl")
}

/// Whether `id` is well formed for `scheme` (`isValid` of the provider).
fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        "digest" => id.split(':').count() == 2,
        "ip" => parse_ip_acl(id).is_some(),
        _ => false,
    }
}

/// ZooKeeper's `fixupACL`: removes duplicates, expands `auth`, validates the
/// rest. An empty list or an invalid entry is INVALIDACL.
pub fn fixup_acl(acl: &[Acl], auth_ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    // Most creates carry the one open entry: skip the de-duplication copy.
    if let [a] = acl {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(vec![a.clone()]);
        }
    }
    let mut uniq: Vec<Acl> = Vec::new();
    for a in acl {
        if !uniq.contains(a) {
            uniq.push(a.clone());
        }
    }
    let mut out: Vec<Acl> = Vec::new();
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a);
        } else if a.id.scheme == "auth" {
            let mut any = false;
            for cid in auth_ids {
                if is_authenticated_scheme(&cid.scheme) {
                    any = true;
                    let e = Acl {
                        perms: a.perms,
                        id: cid.clone(),
                    };
                    if !out.contains(&e) {
                        out.push(e);
                    }
                }
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(&a.id.scheme, &a.id.id) {
            out.push(a);
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(out)
}

/// `checkACL`: does a caller holding `auth_ids` have `perm` on a node with `acl`?
pub fn check(acl: &[Acl], perm: i32, auth_ids: &[Id], skip_acl: bool) -> bool {
    if skip_acl || acl.is_empty() {
        return true;
    }
    if auth_ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        for id in auth_ids {
            if id.scheme != a.id.scheme {
                continue;
            }
            let ok = match a.id.scheme.as_str() {
                "ip" => ip_matches(&id.id, &a.id.id),
                _ => id.id == a.id.id,
            };
            if ok {
                return true;
            }
        }
    }
    false
}

/// Parses an `ip` ACL id: `addr` or `addr/bits`.
fn parse_ip_acl(id: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match id.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (id, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

fn ip_matches(client: &str, acl_id: &str) -> bool {
    let Some((net, bits)) = parse_ip_acl(acl_id) else {
        return false;
    };
    let Ok(c) = client.parse::<IpAddr>() else {
        return false;
    };
    match (net, c) {
        (IpAddr::V4(n), IpAddr::V4(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(c) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(c) & mask
        }
        _ => false,
    }
}

/// Digest ids are masked to `user:x` for callers without ADMIN (getACL).
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or_default();
                Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: "digest".into(),
                        id: format!("{user}:x"),
                    },
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkproto::consts::perms;

    #[test]
    fn digest_matches_zookeeper() {
        // DigestAuthenticationProvider.generateDigest("super:test")
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn auth_ids_in_java_set_order() {
        let id = |s: &str, i: &str| Id {
            scheme: s.into(),
            id: i.into(),
        };
        let mut ids = vec![
            id("ip", "127.0.0.1"),
            id("digest", &digest_id("user1:pw1")),
            id("digest", &digest_id("user2:pw2")),
        ];
        java_hash_set_order(&mut ids);
        let users: Vec<_> = ids.iter().map(|i| &i.id[..5]).collect();
        assert_eq!(users, ["user2", "127.0", "user1"]);
    }

    #[test]
    fn ip_and_world_checks() {
        let ip = vec![Id {
            scheme: "ip".into(),
            id: "127.0.0.1".into(),
        }];
        assert!(check(
            &[Acl::new(perms::READ, "ip", "127.0.0.0/8")],
            perms::READ,
            &ip,
            false
        ));
        assert!(!check(
            &[Acl::new(perms::READ, "ip", "10.0.0.0/8")],
            perms::READ,
            &ip,
            false
        ));
        assert!(!check(
            &[Acl::new(perms::READ, "world", "anyone")],
            perms::WRITE,
            &ip,
            false
        ));
        assert!(fixup_acl(&[Acl::new(31, "auth", "")], &ip).is_err());
        assert!(fixup_acl(&[], &ip).is_err());
        assert!(fixup_acl(&[Acl::new(31, "digest", "nocolon")], &ip).is_err());
    }
}
