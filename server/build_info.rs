// Shared by server/build.rs and the root package's build.rs (through include!):
// records the git commit and the build date for `srvr` and `--version`.

/// Emits `ZK_BUILD_COMMIT` (short hash, "unknown" outside a git checkout) and
/// `ZK_BUILD_DATE` (`YYYY-MM-DD HH:MM`, UTC; SOURCE_DATE_EPOCH when set, for
/// reproducible builds), and asks cargo to rerun only when HEAD moves.
fn emit_build_info() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Only files that exist: cargo reruns a build script on every build when a
    // watched path is missing (a fresh clone keeps its refs in packed-refs).
    let watch = |file: &str| {
        if let Some(p) = git(&["rev-parse", "--path-format=absolute", "--git-path", file]) {
            if std::path::Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    };
    watch("HEAD");
    watch("packed-refs");
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&r);
    }
    if commit == "unknown" {
        // Outside a git checkout (a source tarball): rebuild only on source changes.
        println!("cargo:rerun-if-changed=build.rs");
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    println!("cargo:rustc-env=ZK_BUILD_COMMIT={commit}");
    println!(
        "cargo:rustc-env=ZK_BUILD_DATE={y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    );
}
