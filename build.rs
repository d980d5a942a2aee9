//! Names the build in `vipdeck --version`: the version, the commit, the
//! target and which build it is, e.g.
//! `0.1.0 (abc1234, x86_64-unknown-linux-gnu, glibc ≥ 2.17)` for the
//! portable build of scripts/release.sh (which sets VIPDECK_BUILD_GLIBC)
//! and `0.1.0 (abc1234, x86_64-unknown-linux-gnu, dev build)` otherwise.
//! The text reaches src/main.rs as the VIPDECK_VERSION environment variable.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Rerun when a file changes, only if it exists: cargo reruns a build
/// script on every build when a watched path is missing.
fn watch(path: &str) {
    if Path::new(path).exists() {
        println!("cargo:rerun-if-changed={path}");
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VIPDECK_BUILD_GLIBC");

    let commit = git(&["rev-parse", "--short", "HEAD"]);
    if commit.is_some() {
        // A new commit (HEAD moves, or the branch it names does) is a new
        // commit hash; nothing else in .git reruns this script.
        if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
            watch(&head);
        }
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(r) = git(&["rev-parse", "--git-path", &branch]) {
                watch(&r);
            }
        }
        if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
            watch(&packed);
        }
    }

    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown target".into());
    let build = match std::env::var("VIPDECK_BUILD_GLIBC") {
        Ok(v) if !v.trim().is_empty() => format!("glibc ≥ {}", v.trim()),
        _ => "dev build".to_string(),
    };
    println!(
        "cargo:rustc-env=VIPDECK_VERSION={} ({}, {target}, {build})",
        env!("CARGO_PKG_VERSION"),
        commit.as_deref().unwrap_or("unknown"),
    );
}
