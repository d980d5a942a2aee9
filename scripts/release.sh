#!/usr/bin/env bash
# Builds the vipdeck binary to install on jump hosts: one stripped x86_64
# executable that runs on glibc 2.17 and newer (CentOS 7 and later, Ubuntu
# 18.04 and later, Debian 9 and later). Safe to run again: it reuses the venv
# and the build directory, and rebuilds only what changed.
#
#   1. cargo-zigbuild and zig from PyPI in .venv-release (unless there);
#   2. cargo zigbuild --release --locked --target x86_64-unknown-linux-gnu.2.17
#      in target/zig (zig links against glibc 2.17's symbol versions);
#   3. checks: stripped, x86_64 ELF, no GLIBC_ symbol version above 2.17,
#      `vipdeck --version` runs here and names the build;
#   4. copies it to target/release-glibc2.17/vipdeck and prints that path as
#      the last line of stdout (everything else goes to stderr).
#
#   VIPDECK_RELEASE_VENV   where the venv lives (default: .venv-release)
#   PYTHON                 the interpreter that creates it (default: python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

glibc=2.17
triple=x86_64-unknown-linux-gnu
# The versions this script was last run with (cargo-zigbuild's wheel asks
# for any ziglang; pinning both keeps the build repeatable).
zigbuild_v=0.24.1
zig_v=0.17.1
venv="${VIPDECK_RELEASE_VENV:-$root/.venv-release}"
python="${PYTHON:-python3}"
target_dir="$root/target/zig"
out_dir="$root/target/release-glibc$glibc"

say() { echo "release.sh: $*" >&2; }
die() {
    echo "release.sh: FAILED: $*" >&2
    exit 1
}

# --- tools ------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is not on PATH"
if ! command -v readelf >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing binutils (readelf) with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binutils >&2 ||
            die "apt-get install binutils failed (readelf checks the binary)"
    else
        die "readelf is missing: install binutils (apt-get install binutils)"
    fi
fi

have_tools() {
    [ -x "$venv/bin/cargo-zigbuild" ] && [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" - "$zigbuild_v" "$zig_v" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("cargo-zigbuild"), version("ziglang")) == tuple(sys.argv[1:3]) else 1)
PY
}
if ! have_tools; then
    say "installing cargo-zigbuild $zigbuild_v and ziglang $zig_v into $venv"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv" >&2 || die "could not create the venv $venv with $python"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cargo-zigbuild==$zigbuild_v" "ziglang==$zig_v" >&2 ||
        die "pip could not install cargo-zigbuild $zigbuild_v and ziglang $zig_v"
    have_tools || die "cargo-zigbuild or ziglang are not usable in $venv after installing"
fi
zig_version=$("$venv/bin/python" -m ziglang version) || die "zig from the ziglang wheel does not run"
say "cargo-zigbuild $zigbuild_v, zig $zig_version ($venv)"

# --- build ------------------------------------------------------------------
# VIPDECK_BUILD_GLIBC names this build in `vipdeck --version` (build.rs).
# The release profile's line tables are for `cargo build --release` on a
# developer's machine; this binary is stripped, so it is built without them.
say "cargo zigbuild --release --locked --target $triple.$glibc --target-dir target/zig"
PATH="$venv/bin:$PATH" \
    CARGO_ZIGBUILD_PYTHON_PATH="$venv/bin/python" \
    VIPDECK_BUILD_GLIBC="$glibc" \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    "$venv/bin/cargo-zigbuild" zigbuild --release --locked --bin vipdeck \
    --target "$triple.$glibc" --target-dir "$target_dir" >&2 ||
    die "cargo zigbuild failed (the errors are above)"
bin="$target_dir/$triple/release/vipdeck"
[ -x "$bin" ] || die "no binary at $bin after the build"

# --- checks -----------------------------------------------------------------
header=$(LC_ALL=C readelf -h "$bin") || die "readelf cannot read $bin"
grep -qE 'Class:[[:space:]]+ELF64' <<<"$header" || die "$bin is not a 64-bit ELF"
grep -qE 'Machine:[[:space:]]+Advanced Micro Devices X86-64' <<<"$header" ||
    die "$bin is not an x86_64 binary"
if LC_ALL=C readelf -S -W "$bin" | grep -qE '[[:space:]]\.(symtab|debug_[a-z]+)[[:space:]]'; then
    die "$bin is not stripped (it has a .symtab or .debug_* section)"
fi
# Every glibc version the binary asks the loader for (.gnu.version_r, which
# holds the needs of weak symbols too): the newest must be <= $glibc.
versions=$(LC_ALL=C readelf -V -W "$bin" | grep -oE 'GLIBC_[0-9A-Z_.]+' | sort -u)
[ -n "$versions" ] || die "$bin needs no GLIBC_ version at all: not the dynamically linked glibc build intended"
if grep -qv -E '^GLIBC_[0-9]+(\.[0-9]+)*$' <<<"$versions"; then
    die "$bin needs a private glibc version: $(grep -v -E '^GLIBC_[0-9]' <<<"$versions" | tr '\n' ' ')"
fi
newest=$(sed 's/^GLIBC_//' <<<"$versions" | sort -V | tail -n1)
if [ "$(printf '%s\n%s\n' "$newest" "$glibc" | sort -V | tail -n1)" != "$glibc" ]; then
    die "$bin needs GLIBC_$newest, newer than $glibc: $(LC_ALL=C objdump -T "$bin" 2>/dev/null |
        grep -F "(GLIBC_$newest)" | awk '{print $NF}' | sort -u | tr '\n' ' ')"
fi
version_out=$("$bin" --version 2>&1) || die "$bin --version failed here: $version_out"
case "$version_out" in
*"glibc ≥ $glibc"*) ;;
*) die "$bin --version does not name the glibc $glibc build: $version_out" ;;
esac

# --- publish ----------------------------------------------------------------
mkdir -p "$out_dir"
cp "$bin" "$out_dir/vipdeck.tmp"
mv -f "$out_dir/vipdeck.tmp" "$out_dir/vipdeck"
size=$(stat -c %s "$out_dir/vipdeck")
say "$version_out; newest glibc symbol version GLIBC_$newest; stripped; $((size / 1024 / 1024)) MiB ($size bytes)"
echo "$out_dir/vipdeck"
