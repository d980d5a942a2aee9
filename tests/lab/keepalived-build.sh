#!/usr/bin/env bash
# Builds one keepalived release of the lab's version matrix from its upstream
# source tarball, once per machine, into a cache outside the checkout:
#
#   tests/lab/keepalived-build.sh VERSION   build (or find) VERSION; the LAST
#                                           line of stdout is the path of its
#                                           keepalived binary
#   tests/lab/keepalived-build.sh all       build all of the matrix; one path
#                                           per version on stdout
#   tests/lab/keepalived-build.sh 2.2.7     Debian's own: /usr/sbin/keepalived
#
# Everything but the binary paths goes to stderr.
#
# Cache:   ${VIPDECK_KEEPALIVED_CACHE:-/var/cache/vipdeck/keepalived}/VERSION/
#          sbin/keepalived, build.log, configure-options, stamp
# Sources: $VIPDECK_KEEPALIVED_SRC, else <repo>/../shared/keepalived, else
#          /work/shared/keepalived: keepalived-VERSION.tar.gz, checked against
#          the SHA256SUMS next to it.
# Patches: tests/lab/keepalived-patches/VERSION/*.patch (applied with -p1 in
#          name order; each says at its top why it is needed).
#
# The stamp records the tarball's digest and the recipe's (this script and
# the version's patches): when both match, the cached binary is used as is.
# A build runs in a temporary directory, installs into VERSION.tmp and
# renames it to VERSION, so a cache entry is complete or absent. Builds of
# one version are serialised with flock. Build dependencies:
# scripts/install-lab-deps.sh.
set -euo pipefail

VERSIONS=(1.2.24 1.3.5 2.0.19 2.1.5 2.2.4 2.2.8 2.3.4)
DEBIAN_VERSION=2.2.7
DEBIAN_BINARY=/usr/sbin/keepalived

me=keepalived-build.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
repo=$(cd "$here/../.." && pwd)
cache=${VIPDECK_KEEPALIVED_CACHE:-/var/cache/vipdeck/keepalived}

say() { echo "$me: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
    echo "usage: $me VERSION|all   (VERSION: ${VERSIONS[*]} $DEBIAN_VERSION)" >&2
    exit 2
}

src_dir() {
    local d
    for d in "${VIPDECK_KEEPALIVED_SRC:-}" "$repo/../shared/keepalived" /work/shared/keepalived; do
        if [ -n "$d" ] && [ -f "$d/SHA256SUMS" ]; then
            (cd "$d" && pwd)
            return 0
        fi
    done
    die "no keepalived sources: set VIPDECK_KEEPALIVED_SRC to a directory with keepalived-X.Y.Z.tar.gz and SHA256SUMS"
}

# The digest of the recipe for VERSION: this script and its patches.
recipe_digest() {
    local v=$1
    {
        sha256sum <"$self"
        local p
        for p in "$here/keepalived-patches/$v"/*.patch; do
            [ -e "$p" ] || continue
            printf '%s ' "$(basename "$p")"
            sha256sum <"$p"
        done
    } | sha256sum | cut -d' ' -f1
}

# configure switches for a VRRP-only lab build, only those this release's
# configure.ac declares (an unknown switch is only a warning, but it would
# hide a missing feature): no LVS/checkers, SNMP, D-Bus, libiptc; JSON dumps
# on where the release has them (2.x; 1.x have none).
configure_switches() {
    local ac=$1 s name
    # (No --disable-libipset: 2.0.19's configure rejects it next to
    # --disable-libiptc, which already implies it.)
    local wanted=(--disable-lvs --disable-snmp --disable-dbus --disable-libiptc
        --enable-json)
    for s in "${wanted[@]}"; do
        name=${s#--disable-}
        name=${name#--enable-}
        if grep -Eq "AC_ARG_ENABLE\(\[?$name[],]" "$ac"; then
            printf '%s\n' "$s"
        fi
    done
}

# Runs "$@" with output to the build log; on failure says which version and
# step failed, with the log's last 30 lines, and exits.
step() {
    local what=$1
    shift
    echo "=== $what: $*" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        say "building keepalived $V failed at: $what"
        say "last 30 lines of the build log ($FAILED_LOG):"
        tail -n 30 "$LOG" >&2
        cp "$LOG" "$FAILED_LOG" 2>/dev/null || true
        exit 1
    fi
}

build_one() {
    V=$1
    local src tarball want have recipe dest stamp
    src=$(src_dir)
    tarball="$src/keepalived-$V.tar.gz"
    [ -f "$tarball" ] || die "keepalived $V: no $tarball"
    want=$(awk -v f="keepalived-$V.tar.gz" '$2 == f || $2 == "*" f { print $1 }' "$src/SHA256SUMS")
    [ -n "$want" ] || die "keepalived $V: keepalived-$V.tar.gz is not listed in $src/SHA256SUMS"
    have=$(sha256sum <"$tarball" | cut -d' ' -f1)
    [ "$have" = "$want" ] || die "keepalived $V: $tarball has sha256 $have, SHA256SUMS says $want"
    recipe=$(recipe_digest "$V")
    dest="$cache/$V"
    stamp="tarball=$have recipe=$recipe"

    if [ -x "$dest/sbin/keepalived" ] && [ "$(cat "$dest/stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "$dest/sbin/keepalived"
        return 0
    fi

    mkdir -p "$cache"
    # One build of a version at a time; the second waits and then hits the cache.
    exec 9>"$cache/.$V.lock"
    flock 9
    if [ -x "$dest/sbin/keepalived" ] && [ "$(cat "$dest/stamp" 2>/dev/null)" = "$stamp" ]; then
        exec 9>&-
        echo "$dest/sbin/keepalived"
        return 0
    fi

    local t0 work tree
    t0=$(date +%s)
    work=$(mktemp -d "${TMPDIR:-/tmp}/vipdeck-keepalived-$V.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work' '$dest.tmp'" EXIT
    LOG="$work/build.log"
    FAILED_LOG="$cache/$V.failed.log"
    rm -f "$FAILED_LOG"
    say "building keepalived $V in $work (log: $LOG)"
    tar -xzf "$tarball" -C "$work"
    tree="$work/keepalived-$V"
    [ -d "$tree" ] || die "keepalived $V: the tarball has no keepalived-$V/ directory"
    cd "$tree"

    local p
    for p in "$here/keepalived-patches/$V"/*.patch; do
        [ -e "$p" ] || continue
        step "patch $(basename "$p")" patch -p1 --forward --batch -i "$p"
    done

    # Generated autotools files and compiler flags, per release.
    local cflags="-g -O2" ka_cflags_extra=""
    case $V in
        1.2.*)
            # The tree's configure was made by an old autoconf: regenerate.
            step autoreconf autoreconf -fi
            ka_cflags_extra="-fcommon" ;;
        1.*)
            ka_cflags_extra="-fcommon" ;;
        2.0.*)
            step build_setup ./build_setup ;;
        2.1.*)
            step build_setup ./build_setup
            # Its own if.h definitions clash with Debian 12's kernel headers
            # (IFF_UP redeclared) unless glibc's net/if.h comes first.
            cflags="$cflags -include net/if.h" ;;
        *)
            step build_setup ./build_setup ;;
    esac

    local switches
    mapfile -t switches < <(configure_switches configure.ac)
    printf '%s\n' "${switches[@]}" >"$work/configure-options"
    step configure ./configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
        "${switches[@]}" CFLAGS="$cflags"

    # Only the library and the daemon (genhash does not link against
    # OpenSSL 3 on 1.3.5, and the lab needs only keepalived).
    local make_args=()
    if [ -n "$ka_cflags_extra" ]; then
        local ka
        ka=$(sed -n 's/^KA_CFLAGS *= *//p' keepalived/Makefile)
        make_args+=("KA_CFLAGS=$ka $ka_cflags_extra")
    fi
    if [ -d lib ]; then
        step "make lib" make -j2 -C lib "${make_args[@]}"
    fi
    step "make keepalived" make -j2 -C keepalived "${make_args[@]}"
    [ -x keepalived/keepalived ] || { say "keepalived $V: make succeeded but made no keepalived/keepalived"; tail -n 30 "$LOG" >&2; exit 1; }
    step "keepalived --version" ./keepalived/keepalived --version

    rm -rf "$dest.tmp"
    mkdir -p "$dest.tmp/sbin"
    install -m 755 keepalived/keepalived "$dest.tmp/sbin/keepalived"
    cp "$LOG" "$dest.tmp/build.log"
    cp "$work/configure-options" "$dest.tmp/configure-options"
    echo "$stamp" >"$dest.tmp/stamp"
    cd /
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
    rm -rf "$work"
    trap - EXIT
    exec 9>&-
    say "built keepalived $V in $(( $(date +%s) - t0 ))s: $dest/sbin/keepalived"
    echo "$dest/sbin/keepalived"
}

[ $# -eq 1 ] || usage
case $1 in
    all)
        failed=()
        for v in "${VERSIONS[@]}"; do
            "$self" "$v" || failed+=("$v")
        done
        [ ${#failed[@]} -eq 0 ] || die "keepalived ${failed[*]}: build failed (see above)" ;;
    "$DEBIAN_VERSION")
        [ -x "$DEBIAN_BINARY" ] || die "keepalived $DEBIAN_VERSION is Debian's: install the keepalived package (scripts/install-lab-deps.sh)"
        echo "$DEBIAN_BINARY" ;;
    -h|--help) usage ;;
    *)
        known=0
        for v in "${VERSIONS[@]}"; do [ "$v" = "$1" ] && known=1; done
        [ $known = 1 ] || { say "unknown version $1"; usage; }
        build_one "$1" ;;
esac
