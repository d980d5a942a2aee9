#!/usr/bin/env bash
# Installs what tests/lab/lab.sh needs, and what tests/cli needs (tmux drives
# the dashboard in dashboard_tmux.rs; man-db renders the man page in
# man_page.rs), and what tests/lab/keepalived-build.sh needs to build the
# keepalived version matrix from source; only the packages that are missing.
# Idempotent, needs no tty, runs `apt-get update` at most once per call.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-lab-deps.sh: run as root (apt-get install)" >&2
    exit 1
fi

# package -> a file that proves it is installed
declare -A probe=(
    [keepalived]=/usr/sbin/keepalived
    [openssh-server]=/usr/sbin/sshd
    [openssh-client]=/usr/bin/ssh-keygen
    [tcpdump]=/usr/bin/tcpdump
    [iproute2]=/usr/sbin/ip
    [iptables]=/usr/sbin/iptables
    [curl]=/usr/bin/curl
    [jq]=/usr/bin/jq
    [tmux]=/usr/bin/tmux
    [man-db]=/usr/bin/man
    [iputils-arping]=/usr/bin/arping
    [util-linux]=/usr/bin/unshare
    [procps]=/usr/bin/pkill
    [python3]=/usr/bin/python3
    [python3-venv]=venv
    # vipdeck serve is scraped by a real Prometheus; promtool checks the rules.
    [prometheus]=/usr/bin/prometheus
    # vipdeck maintenance's silences go to a real Alertmanager in the lab tests.
    [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
    # keepalived 1.x .. 2.1 in the lab logs through syslog, as on CentOS 7/8:
    # a real rsyslogd in each node writes its /var/log/messages.
    [rsyslog]=/usr/sbin/rsyslogd
    # tests/lab/keepalived-build.sh: keepalived 1.2.24 .. 2.3.4 from source.
    [build-essential]=/usr/share/build-essential/essential-packages-list
    [patch]=/usr/bin/patch
    [autoconf]=/usr/bin/autoconf
    [automake]=/usr/bin/automake
    [libtool]=/usr/bin/libtoolize
    [pkg-config]=/usr/bin/pkg-config
    [libnl-3-dev]=/usr/include/libnl3/netlink/netlink.h
    [libnl-genl-3-dev]=/usr/include/libnl3/netlink/genl/genl.h
    [libnl-route-3-dev]=/usr/include/libnl3/netlink/route/link.h
    [libssl-dev]=/usr/include/openssl/ssl.h
    [libnfnetlink-dev]=/usr/include/libnfnetlink/libnfnetlink.h
    [libpopt-dev]=/usr/include/popt.h
    # A static busybox for the lab's minimal node roots.
    [busybox-static]=/bin/busybox
)

missing=()
for pkg in "${!probe[@]}"; do
    if [ "$pkg" = python3-venv ]; then
        # The path of venv depends on the python version: ask python itself.
        if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
            continue
        fi
    elif [ -e "${probe[$pkg]}" ]; then
        continue
    fi
    missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-lab-deps.sh: all lab packages present"
    exit 0
fi

echo "install-lab-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt may be running (unattended upgrades, a parallel job): wait for it.
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
# The lab starts its own daemons inside namespaces. Keep the packages'
# postinst from starting keepalived/sshd on this host (no systemd here, so
# invoke-rc.d would run the init scripts): policy-rc.d exit 101 = "not allowed".
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "install-lab-deps.sh: done"
