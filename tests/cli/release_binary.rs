//! The binary users install, built by scripts/release.sh: it must start on
//! every glibc from 2.17 on (CentOS 7 and later). Reads the ELF itself (no
//! readelf): an x86_64 PIE linked dynamically against glibc through
//! /lib64/ld-linux-x86-64.so.2, stripped, asking the loader for no GLIBC_
//! version above 2.17, and `--version` names the build.
//!
//! The binary comes from VIPDECK_RELEASE_BIN, so the test is #[ignore]d: a
//! plain `cargo test` reports it as ignored, and scripts/test.sh runs it
//! after scripts/release.sh:
//! `VIPDECK_RELEASE_BIN=target/release-glibc2.17/vipdeck cargo test --test cli release_binary -- --ignored`.
//! Run without VIPDECK_RELEASE_BIN it fails: a check that did not run never
//! passes.

use std::process::Command;

/// The oldest glibc the release binary supports.
const GLIBC_FLOOR: [u32; 2] = [2, 17];
const INTERPRETER: &str = "/lib64/ld-linux-x86-64.so.2";

const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const SHT_SYMTAB: u32 = 2;
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("truncated ELF at {at}"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| format!("truncated ELF at {at}"))
}

fn u64_at(b: &[u8], at: usize) -> Result<usize, String> {
    let s = b
        .get(at..at + 8)
        .ok_or_else(|| format!("truncated ELF at {at}"))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    usize::try_from(u64::from_le_bytes(a)).map_err(|e| e.to_string())
}

/// The NUL-terminated string at `at`.
fn cstr(b: &[u8], at: usize) -> Result<String, String> {
    let rest = b
        .get(at..)
        .ok_or_else(|| format!("string at {at} is outside the file"))?;
    let end = rest
        .iter()
        .position(|&c| c == 0)
        .ok_or("unterminated string")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

struct Section {
    name: String,
    kind: u32,
    offset: usize,
    size: usize,
    link: usize,
    info: usize,
}

/// What the test needs to know of an ELF64 little-endian file.
struct Elf {
    e_type: u16,
    machine: u16,
    interpreter: Option<String>,
    dynamic: bool,
    sections: Vec<Section>,
    /// (library, version) pairs of .gnu.version_r: every version the loader
    /// must find, weak references included.
    needs: Vec<(String, String)>,
}

fn parse(b: &[u8]) -> Result<Elf, String> {
    if b.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    let e_type = u16_at(b, 16)?;
    let machine = u16_at(b, 18)?;
    let (phoff, shoff) = (u64_at(b, 32)?, u64_at(b, 40)?);
    let (phentsize, phnum) = (usize::from(u16_at(b, 54)?), usize::from(u16_at(b, 56)?));
    let (shentsize, shnum) = (usize::from(u16_at(b, 58)?), usize::from(u16_at(b, 60)?));
    let shstrndx = usize::from(u16_at(b, 62)?);

    let mut interpreter = None;
    let mut dynamic = false;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(b, ph)? {
            PT_INTERP => interpreter = Some(cstr(b, u64_at(b, ph + 8)?)?),
            PT_DYNAMIC => dynamic = true,
            _ => {}
        }
    }

    let mut raw = Vec::new();
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        raw.push((
            u32_at(b, sh)? as usize,
            Section {
                name: String::new(),
                kind: u32_at(b, sh + 4)?,
                offset: u64_at(b, sh + 24)?,
                size: u64_at(b, sh + 32)?,
                link: u32_at(b, sh + 40)? as usize,
                info: u32_at(b, sh + 44)? as usize,
            },
        ));
    }
    let names_at = raw
        .get(shstrndx)
        .map(|(_, s)| s.offset)
        .ok_or("no section name table")?;
    let mut sections = Vec::new();
    for (name, mut s) in raw {
        s.name = cstr(b, names_at + name)?;
        sections.push(s);
    }

    let mut needs = Vec::new();
    for s in sections.iter().filter(|s| s.kind == SHT_GNU_VERNEED) {
        let strings = sections
            .get(s.link)
            .ok_or("verneed links no string table")?
            .offset;
        let mut at = s.offset;
        // sh_info: how many Verneed entries (one per library).
        for _ in 0..s.info {
            let cnt = u16_at(b, at + 2)?;
            let file = cstr(b, strings + u32_at(b, at + 4)? as usize)?;
            let mut aux = at + u32_at(b, at + 8)? as usize;
            for _ in 0..cnt {
                needs.push((
                    file.clone(),
                    cstr(b, strings + u32_at(b, aux + 8)? as usize)?,
                ));
                aux += u32_at(b, aux + 12)? as usize;
            }
            let next = u32_at(b, at + 12)? as usize;
            if next == 0 {
                break;
            }
            at += next;
        }
        if at > s.offset + s.size {
            return Err("verneed runs past its section".into());
        }
    }
    Ok(Elf {
        e_type,
        machine,
        interpreter,
        dynamic,
        sections,
        needs,
    })
}

/// "GLIBC_2.17" → [2, 17]; None for GLIBC_PRIVATE and the like.
fn glibc_version(name: &str) -> Option<Vec<u32>> {
    name.strip_prefix("GLIBC_")?
        .split('.')
        .map(|p| p.parse().ok())
        .collect()
}

/// Every reason the file at `path` is not the release binary intended.
fn problems(path: &str) -> Vec<String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return vec![format!("cannot read {path}: {e}")],
    };
    let elf = match parse(&bytes) {
        Ok(elf) => elf,
        Err(e) => return vec![format!("{path}: {e}")],
    };
    let mut bad = Vec::new();
    if elf.machine != EM_X86_64 {
        bad.push(format!(
            "machine {} is not x86_64 ({EM_X86_64})",
            elf.machine
        ));
    }
    if elf.e_type != ET_DYN {
        bad.push(format!("ELF type {} is not a PIE (ET_DYN)", elf.e_type));
    }
    if !elf.dynamic || elf.interpreter.as_deref() != Some(INTERPRETER) {
        bad.push(format!(
            "not dynamically linked through {INTERPRETER}: interpreter {:?}, dynamic section {}",
            elf.interpreter, elf.dynamic
        ));
    }
    let unstripped: Vec<&str> = elf
        .sections
        .iter()
        .filter(|s| s.kind == SHT_SYMTAB || s.name.starts_with(".debug_"))
        .map(|s| s.name.as_str())
        .collect();
    if !unstripped.is_empty() {
        bad.push(format!("not stripped: it has {}", unstripped.join(", ")));
    }
    let glibc: Vec<&(String, String)> = elf
        .needs
        .iter()
        .filter(|(_, v)| v.starts_with("GLIBC_"))
        .collect();
    if glibc.is_empty() {
        bad.push("asks for no GLIBC_ version: not linked against glibc".into());
    }
    for (file, v) in &glibc {
        match glibc_version(v) {
            None => bad.push(format!("{file} {v}: not a public glibc version")),
            Some(n) if n.as_slice() > GLIBC_FLOOR.as_slice() => {
                bad.push(format!("{file} {v}: newer than glibc 2.17"))
            }
            Some(_) => {}
        }
    }
    match Command::new(path).arg("--version").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let text = text.trim();
            if !out.status.success()
                || !text.starts_with("vipdeck ")
                || !text.contains("x86_64-unknown-linux-gnu")
                || !text.contains("glibc ≥ 2.17")
            {
                bad.push(format!(
                    "--version (exit {:?}) does not name the glibc 2.17 build: {text:?} {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Err(e) => bad.push(format!("cannot run {path} --version: {e}")),
    }
    bad
}

#[test]
#[ignore = "needs the binary of scripts/release.sh in VIPDECK_RELEASE_BIN; scripts/test.sh runs it"]
fn the_release_binary_runs_on_glibc_2_17_and_later() {
    let Ok(path) = std::env::var("VIPDECK_RELEASE_BIN") else {
        panic!(
            "not run: VIPDECK_RELEASE_BIN is not set (CI={}). Build the binary with \
             `bash scripts/release.sh` and pass the path it prints last.",
            std::env::var("CI").unwrap_or_default()
        );
    };
    let bad = problems(&path);
    assert!(
        bad.is_empty(),
        "{path} is not the release binary intended:\n  {}",
        bad.join("\n  ")
    );
    eprintln!("{path}: x86_64 PIE, stripped, glibc ≤ 2.17, --version names the build");
}

/// The checks can fail: the dev build of `cargo test` (not stripped,
/// `--version` says "dev build") is refused.
#[test]
fn the_release_checks_refuse_a_dev_build() {
    let dev = env!("CARGO_BIN_EXE_vipdeck");
    let bad = problems(dev);
    assert!(bad.iter().any(|p| p.contains("--version")), "{bad:?}");
    assert!(bad.iter().any(|p| p.starts_with("not stripped")), "{bad:?}");
    let elf = parse(&std::fs::read(dev).expect("read")).expect("the dev build parses");
    assert_eq!((elf.machine, elf.e_type), (EM_X86_64, ET_DYN));
    assert_eq!(elf.interpreter.as_deref(), Some(INTERPRETER));
    assert!(elf
        .needs
        .iter()
        .any(|(f, v)| f == "libc.so.6" && v == "GLIBC_2.2.5"));
    assert_eq!(glibc_version("GLIBC_2.2.5"), Some(vec![2, 2, 5]));
    assert_eq!(glibc_version("GLIBC_PRIVATE"), None);
    assert!([2u32, 34].as_slice() > GLIBC_FLOOR.as_slice());
    assert!([2u32, 2, 5].as_slice() < GLIBC_FLOOR.as_slice());
    assert!([2u32, 17].as_slice() <= GLIBC_FLOOR.as_slice());
}
