#!/usr/bin/env bash
# vipdeck lab: two "CVMs" on this machine running Debian's real keepalived
# with unicast VRRP, a real sshd each, and (optionally) `vipdeck cloudsim`
# modelling their VPC. Run as root. See docs/lab.md.
#
#   lab.sh up [--mode eni|havip] [--cloudsim-bin PATH] [--keepalived VERSION] [--userland stock|busybox]
#   lab.sh down | status | paths
#   lab.sh exec NODE CMD...          run CMD inside a node (its net, mount, uts ns)
#   lab.sh ssh NODE [CMD...]         ssh into a node the way vipdeck does
#   lab.sh wait-master [SECONDS]     wait for exactly one MASTER, print its name
#   lab.sh stop-keepalived|kill-keepalived|start-keepalived NODE
#   lab.sh cut-link|restore-link NODE
#   lab.sh blackhole-ssh|restore-ssh NODE
#   lab.sh break-notify|fix-notify NODE
#   lab.sh cut-vrrp|restore-vrrp NODE
#   lab.sh client-probe              one GET to the VIP from the lab VPC's client
#   lab.sh client-loop start|stop    a GET every 100 ms, logged to $LAB/client-loop.log
#   lab.sh block-probe [--reject]|unblock-probe
#                                    the router drops (or resets) the host's
#                                    traffic to VIP:8080: vipdeck's probe, not the client
#
# A node is `a` or `b` (vdlab-a / vdlab-b are accepted too).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

LAB=${VDLAB_ROOT:-/tmp/vdlab}
BR=vdlab-br0
# A documentation range (RFC 5737). 198.51.100.0/24 rather than 192.0.2.0/24,
# which some sandboxes and CI runners use for their own uplink; `up` refuses
# to start if the range is routed anywhere else on this machine.
NET=${VDLAB_NET:-198.51.100}
case "$NET" in 192.0.2 | 198.51.100) ;; *) echo "lab: VDLAB_NET must be a documentation range (192.0.2 or 198.51.100)" >&2; exit 1 ;; esac
HOST_IP=$NET.1
PREFIX=24
SUBNET=$NET.0/24
VIP=$NET.100
NODES=(a b)
declare -A NODE_IP=([a]=$NET.11 [b]=$NET.12)
# Locally administered MACs ending in the node's host number (.11 = 0b, .12 = 0c).
declare -A NODE_MAC=([a]=02:00:00:00:00:0b [b]=02:00:00:00:00:0c)
declare -A NODE_ENI=([a]=eni-laba0001 [b]=eni-labb0001)
declare -A NODE_INS=([a]=ins-laba0001 [b]=ins-labb0001)
CLOUD_PORT=${VDLAB_CLOUDSIM_PORT:-18080}
REGION=ap-guangzhou
# Lab-only keys, known to the emulator through world.json.
SECRET_ID=AKIDvdlab00000000000000000000000lab
SECRET_KEY=vdlabSecretKeyForTheLabOnly00000
WRONG_KEY=vdlabWrongKeyBreakNotify00000000
LOCK=/run/vdlab.lock
PATH_CLEAN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Debian's own keepalived: the lab's default (no --keepalived / VDLAB_KEEPALIVED).
DEBIAN_KEEPALIVED=/usr/sbin/keepalived
DEBIAN_KEEPALIVED_VERSION=2.2.7
# Inside a node, where a version that logs through syslog finds the node's rsyslogd.
SYSLOG_DIR=/run/rsyslog
# The lab VPC (with the emulator): a client namespace on its own subnet
# (inside 198.18.0.0/15, RFC 2544) that reaches the VIP only through a
# router namespace, whose host route for the VIP follows the cloud binding.
RTR=vdlab-rtr
CLIENT=vdlab-client
RTR_LAN_IP=$NET.254
CLIENT_NET=198.18.77
CLIENT_SUBNET=$CLIENT_NET.0/24
RTR_CLIENT_IP=$CLIENT_NET.1
CLIENT_IP=$CLIENT_NET.10
SERVICE_PORT=8080
# The client loop ends by itself after this long (lab.sh client-loop stop ends it sooner).
CLIENT_LOOP_MAX_S=600

die() { echo "lab: $*" >&2; exit 1; }
note() { echo "lab: $*"; }

need_root() { [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*)"; }

lock() {
    exec 9>"$LOCK"
    flock -w 120 9 || die "another lab.sh holds $LOCK"
}

node_name() {
    local n=${1:-}
    n=${n#vdlab-}
    case "$n" in a | b) echo "$n" ;; *) die "unknown node '${1:-}' (a or b)" ;; esac
}
other() { [ "$1" = a ] && echo b || echo a; }
ns() { echo "vdlab-$1"; }

is_up() { [ -f "$LAB/lab.env" ] && ip netns list | grep -qw "vdlab-a"; }
need_up() { is_up || die "the lab is not up (lab.sh up)"; }

# Run a command inside node $1: its network, mount and UTS namespaces, with a
# clean environment as a daemon on a real machine would have.
node_exec() {
    local n=$1
    shift
    # 9>&-: daemons started here must not inherit the lab lock.
    nsenter --mount="$LAB/ns/$n.mnt" --uts="$LAB/ns/$n.uts" --net="/run/netns/$(ns "$n")" -- \
        env -i PATH="$PATH_CLEAN" HOME=/root LANG=C.UTF-8 "$@" 9>&-
}

# ---------------------------------------------------------------- teardown

# Kill a process from a pid file only if it still is what we started.
kill_pidfile() {
    local f=$1 want=$2 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$want"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

do_down() {
    kill_pidfile "$LAB/pids/client-loop.pid" client.py
    kill_pidfile "$LAB/pids/vpc-route.pid" vpc-route.sh
    kill_pidfile "$LAB/pids/garp-watch.pid" garp-watch.sh
    kill_pidfile "$LAB/pids/cloudsim.pid" cloudsim
    kill_pidfile "$LAB/pids/http-a.pid" http-service.py
    kill_pidfile "$LAB/pids/http-b.pid" http-service.py
    down_vpc
    local n pids
    for n in "${NODES[@]}"; do
        if ip netns list | grep -qw "$(ns "$n")"; then
            # Everything in the node's network namespace was started by the lab.
            pids=$(ip netns pids "$(ns "$n")" 2>/dev/null || true)
            if [ -n "$pids" ]; then
                # shellcheck disable=SC2086
                kill -KILL $pids 2>/dev/null || true
            fi
            for _ in $(seq 30); do
                [ -z "$(ip netns pids "$(ns "$n")" 2>/dev/null)" ] && break
                sleep 0.1
            done
            ip netns del "$(ns "$n")" 2>/dev/null || true
        fi
        ip link del "vdlab-$n-h" 2>/dev/null || true
    done
    ip link del "$BR" 2>/dev/null || true
    if [ -d "$LAB" ]; then
        # Mounts under the lab root: the namespace files and their private bind.
        local m
        awk -v r="$LAB" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
            while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
        if awk -v r="$LAB" '$5 == r || index($5, r "/") == 1' /proc/self/mountinfo | grep -q .; then
            die "mounts left under $LAB, not removing it"
        fi
        if [ -f "$LAB/created-mountpoints" ]; then
            while read -r m; do rmdir "$m" 2>/dev/null || true; done <"$LAB/created-mountpoints"
        fi
        case "$LAB" in
            / | /tmp | /tmp/ | "") die "refusing to remove '$LAB'" ;;
        esac
        rm -rf "$LAB"
    fi
}

# The lab VPC's namespaces, links and the host's route to the VIP.
down_vpc() {
    local n pids
    # Only the host route the lab added (via its router), never another.
    if ip -4 route show "$VIP/32" 2>/dev/null | grep -q "via $RTR_LAN_IP"; then
        ip route del "$VIP/32" via "$RTR_LAN_IP" 2>/dev/null || true
    fi
    for n in "$CLIENT" "$RTR"; do
        if ip netns list | grep -qw "$n"; then
            pids=$(ip netns pids "$n" 2>/dev/null || true)
            # shellcheck disable=SC2086
            if [ -n "$pids" ]; then kill -KILL $pids 2>/dev/null || true; fi
            ip netns del "$n" 2>/dev/null || true
        fi
    done
    ip link del vdlab-rtr-h 2>/dev/null || true
}

# ---------------------------------------------------------------- build

render() {
    # render TEMPLATE KEY=VALUE...: replace @KEY@ with VALUE.
    local tmpl=$1 out kv
    shift
    out=$(cat "$tmpl")
    for kv in "$@"; do
        out=${out//@${kv%%=*}@/${kv#*=}}
    done
    printf '%s\n' "$out"
}

mountpoint_dir() {
    # Bind targets must exist on the host; remember the ones we create.
    if [ ! -d "$1" ]; then
        mkdir -p "$1"
        echo "$1" >>"$LAB/created-mountpoints"
    fi
}

# The lab range must be free: an address or route for it outside the lab
# (say the machine's own uplink) would be hijacked by the lab bridge.
check_range_free() {
    local clash
    clash=$(ip -4 -o addr show | awk -v net="$NET." '$2 !~ /^vdlab-/ && index($4, net) == 1 {print $2, $4}')
    [ -z "$clash" ] || die "$SUBNET is in use on this machine ($clash): set VDLAB_NET to another documentation range"
    clash=$(ip -4 route show to match "$HOST_IP" | grep -v '^default' | grep -v 'dev vdlab-' || true)
    [ -z "$clash" ] || die "$SUBNET is routed on this machine ($clash): set VDLAB_NET to another documentation range"
}

build_network() {
    check_range_free
    ip link add "$BR" type bridge
    ip addr add "$HOST_IP/$PREFIX" dev "$BR"
    ip link set "$BR" up
    local n
    for n in "${NODES[@]}"; do
        ip netns add "$(ns "$n")"
        ip link add "vdlab-$n-h" type veth peer name eth0 netns "$(ns "$n")"
        ip link set "vdlab-$n-h" master "$BR"
        ip link set "vdlab-$n-h" up
        ip -n "$(ns "$n")" link set lo up
        ip -n "$(ns "$n")" link set eth0 address "${NODE_MAC[$n]}"
        ip -n "$(ns "$n")" addr add "${NODE_IP[$n]}/$PREFIX" dev eth0
        ip -n "$(ns "$n")" link set eth0 up
    done
}

# The node's files: its own /etc/keepalived, /etc/ssh, /var/keepalived,
# /var/log, /tmp and /run, kept under $LAB/<node>/ and bind-mounted over the
# real paths inside the node's mount namespace.
build_node_files() {
    local n=$1 d="$LAB/$1" peer
    peer=$(other "$n")
    mkdir -p "$d/etc/keepalived" "$d/etc/ssh" "$d/var/keepalived" "$d/var/log" "$d/tmp" "$d/run/sshd" "$d/run/lock"
    chmod 1777 "$d/tmp" "$d/run/lock"
    chmod 755 "$d/etc/ssh" "$d/run" "$d/run/sshd"

    render "$HERE/keepalived.conf.tmpl" NODE="$n" ROUTER_ID="vdlab_$n" SELF_IP="${NODE_IP[$n]}" \
        PEER_IP="${NODE_IP[$peer]}" VIP="$VIP" PREFIX="$PREFIX" >"$d/etc/keepalived/keepalived.conf"
    chmod 644 "$d/etc/keepalived/keepalived.conf"

    local migrate='# (no cloud in this lab run: vip.py not called)'
    if [ "$MODE" = eni ] && [ -n "$CLOUD_URL" ]; then
        migrate='/etc/keepalived/vip.py migrate \&'
    fi
    sed "s|#@VIP_MIGRATE@|$migrate|" "$HERE/node/notify_action.sh" >"$d/etc/keepalived/notify_action.sh"
    install -m 744 "$HERE/node/ctl" "$d/etc/keepalived/ctl"
    write_ctl_env "$n"
    if [ -n "$PYTHON" ]; then
        { echo "#!$NODE_PYTHON"; tail -n +2 "$HERE/node/vip.py"; } >"$d/etc/keepalived/vip.py"
        chmod 744 "$d/etc/keepalived/vip.py"
    fi
    chmod 744 "$d/etc/keepalived/notify_action.sh"
    write_vip_conf "$n" "$SECRET_KEY"
    # The second cluster of vipdeck-two.toml (the same two hosts): its own
    # state file and notify log, read by nothing but vipdeck.
    printf BACKUP >"$d/var/keepalived/state-lab2"
    : >"$d/var/log/keepalived-lab2.log"

    render "$HERE/sshd_config.tmpl" NODE="$n" SELF_IP="${NODE_IP[$n]}" >"$d/etc/ssh/sshd_config"
    ssh-keygen -q -t ed25519 -N '' -C "root@vdlab-$n" -f "$d/etc/ssh/ssh_host_ed25519_key"
    install -m 600 "$LAB/ssh/id_ed25519.pub" "$d/etc/ssh/authorized_keys"
    if [ -f /etc/ssh/moduli ]; then cp /etc/ssh/moduli "$d/etc/ssh/moduli"; fi
    printf 'vdlab-%s,%s %s\n' "$n" "${NODE_IP[$n]}" "$(cut -d' ' -f1,2 "$d/etc/ssh/ssh_host_ed25519_key.pub")" \
        >>"$LAB/ssh/known_hosts"
}

# /etc/keepalived/ctl.env: which keepalived the node runs and how ctl
# starts it (the options this version has, where its log goes).
write_ctl_env() {
    local d="$LAB/$1"
    cat >"$d/etc/keepalived/ctl.env" <<EOF
# keepalived on this node, for /etc/keepalived/ctl (written by lab.sh up)
KEEPALIVED_VERSION=$KA_VERSION
KEEPALIVED_OPTIONS='$KA_OPTIONS'
# console: its console output is the daemon log; syslog: it logs through
# /dev/log to the node's rsyslogd (socket SYSLOG_SOCKET), which writes DAEMON_LOG.
KEEPALIVED_LOG=$KA_LOG
DAEMON_LOG=$DAEMON_LOG
CONSOLE_LOG=$CONSOLE_LOG
SYSLOG_SOCKET=$SYSLOG_DIR/log.sock
EOF
    chmod 644 "$d/etc/keepalived/ctl.env"
    [ "$KA_LOG" = syslog ] || return 0
    mkdir -p "$d/run/rsyslog"
    # A CentOS 7/8 rsyslog.conf reduced to what keepalived's lines need:
    # the local socket, traditional file format, the stock messages rule.
    cat >"$d/run/rsyslog/rsyslog.conf" <<EOF
# rsyslogd of lab node vdlab-$1 (lab.sh): keepalived's syslog, as on CentOS 7/8
global(workDirectory="$SYSLOG_DIR")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$SYSLOG_DIR/log.sock" RateLimit.Interval="0")
\$ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat
*.info;mail.none;authpriv.none;cron.none /var/log/messages
EOF
}

# The node's rsyslogd (its own config and socket, in the node's namespaces),
# for the versions that log through syslog; waits for its socket.
start_rsyslogd() {
    local n=$1
    # Backgrounded by a shell inside the node, which then exits (as sshd
    # daemonizes): no subshell of lab.sh stays behind holding its files.
    # shellcheck disable=SC2016 # expanded by the inner shell
    node_exec "$n" /bin/sh -c 'setsid "$@" </dev/null >>"$0" 2>&1 &' "$SYSLOG_DIR/rsyslogd.out" \
        /usr/sbin/rsyslogd -n -f "$SYSLOG_DIR/rsyslog.conf" -i /run/rsyslogd.pid
    for _ in $(seq 100); do
        [ -S "$LAB/$n$SYSLOG_DIR/log.sock" ] && return 0
        sleep 0.05
    done
    die "rsyslogd on vdlab-$n made no $SYSLOG_DIR/log.sock within 5 s: $(tail -5 "$LAB/$n$SYSLOG_DIR/rsyslogd.out" 2>/dev/null)"
}

write_vip_conf() {
    local n=$1 key=$2 peer
    peer=$(other "$n")
    [ -n "$CLOUD_URL" ] || return 0
    jq -n --arg endpoint "$CLOUD_URL" --arg region "$REGION" --arg id "$SECRET_ID" --arg key "$key" \
        --arg vip "$VIP" --arg ip "${NODE_IP[$n]}" --arg this "${NODE_ENI[$n]}" \
        --arg that "${NODE_ENI[$peer]}" \
        '{endpoint:$endpoint, region:$region, secret_id:$id, secret_key:$key, vpc_id:"vpc-lab00001",
          vip:$vip, interface:"eth0", primary_ip:$ip, this_eni:$this, that_eni:$that}' \
        >"$LAB/$n/etc/keepalived/vip.conf"
    chmod 600 "$LAB/$n/etc/keepalived/vip.conf"
}

build_node_ns() {
    local n=$1 d="$LAB/$1"
    : >"$LAB/ns/$n.mnt"
    : >"$LAB/ns/$n.uts"
    # A persistent mount + UTS namespace per node, bound to files so that every
    # later `node_exec` (and so sshd's sessions) sees the same view. sysfs is
    # remounted from inside the node's netns so /sys/class/net is the node's.
    # /tmp is bound last: the sources live under $LAB, itself under /tmp.
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare --mount="$LAB/ns/$n.mnt" --uts="$LAB/ns/$n.uts" --propagation private -- \
        /bin/sh -euc '
            n=$1 d=$2 netns=$3
            hostname "vdlab-$n"
            nsenter --net="$netns" -- mount -t sysfs sysfs /sys
            mount --bind "$d/etc/keepalived" /etc/keepalived
            mount --bind "$d/etc/ssh" /etc/ssh
            mount --bind "$d/var/keepalived" /var/keepalived
            mount --bind "$d/var/log" /var/log
            mount --bind "$d/run" /run
            # A stock shell: sshd runs every session through root'"'"'s bash,
            # which would otherwise read this machine'"'"'s ~/.bashrc (its
            # own setup, slow and locking) on each login to the node.
            if [ -e /root/.bashrc ]; then
                printf "%s\n" "# vipdeck lab node: a stock shell" >"$d/bashrc"
                mount --bind "$d/bashrc" /root/.bashrc
            fi
            # The project venv (vip.py'"'"'s SDK) may itself live under /tmp, which
            # the node does not see: mount it into the node'"'"'s own /tmp.
            if [ -n "$4" ]; then
                mkdir -p "$d/tmp/vdlab-venv"
                mount --bind "$4" "$d/tmp/vdlab-venv"
            fi
            # The version of keepalived this lab runs is THE keepalived of
            # the node: on PATH, in /proc/PID/exe, for ctl and for ssh sessions.
            if [ "$5" != /usr/sbin/keepalived ]; then
                mount --bind "$5" /usr/sbin/keepalived
            fi
            # A node whose tools are busybox'"'"'s: its applets first on the
            # PATH of every session (sshd puts /usr/local/bin before
            # /usr/sbin and /usr/bin), `sh` included.
            if [ -n "$6" ]; then
                mount --bind "$6" /usr/local/bin
            fi
            mount --rbind "$d/tmp" /tmp
        ' sh "$n" "$d" "/run/netns/$(ns "$n")" "$VENV" "$KA_BIN" "${BUSYBOX_BIN:-}"
}

# A directory of Debian busybox-static's applets (sh, stat, head, base64,
# date, ip, tail, ...), each a link to the one static binary.
busybox_bin() {
    local bb=/bin/busybox dir="$LAB/busybox-bin" a
    [ -x "$bb" ] || bb=/usr/bin/busybox
    [ -x "$bb" ] || die "--userland busybox: no busybox (scripts/install-lab-deps.sh installs busybox-static)"
    mkdir -p "$dir"
    for a in $("$bb" --list); do
        ln -sf "$bb" "$dir/$a"
    done
    echo "$dir"
}

write_client_files() {
    cat >"$LAB/ssh_config" <<EOF
# ssh config for the vipdeck lab (lab.sh). Host keys are checked against
# $LAB/ssh/known_hosts, which holds the nodes' real host keys.
Host vdlab-a
    HostName ${NODE_IP[a]}
Host vdlab-b
    HostName ${NODE_IP[b]}
Host vdlab-a vdlab-b ${NODE_IP[a]} ${NODE_IP[b]}
    User root
    IdentityFile $LAB/ssh/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $LAB/ssh/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 3
EOF

    local endpoint=${CLOUD_URL:-http://$HOST_IP:$CLOUD_PORT}
    {
        cat <<EOF
# vipdeck config for the lab cluster, written by tests/lab/lab.sh.
# Credentials: TENCENTCLOUD_CREDENTIALS_FILE=$LAB/credentials (or source $LAB/lab.env).
[cloud]
region = "$REGION"
endpoint = "$endpoint"

[ssh]
config_file = "$LAB/ssh_config"

[[clusters]]
name = "lab"
mode = "$MODE"
vip = "$VIP"
EOF
        if [ "$MODE" = havip ]; then echo 'havip_id = "havip-lab00001"'; fi
        local n
        for n in "${NODES[@]}"; do
            cat <<EOF

  [[clusters.peers]]
  name = "vdlab-$n"
  ssh = "vdlab-$n"
  network_interface_id = "${NODE_ENI[$n]}"
  instance_id = "${NODE_INS[$n]}"
  interface = "eth0"
  state_file = "/var/keepalived/state"
  log_file = "/var/log/keepalived.log"
  keepalived_conf = "/etc/keepalived/keepalived.conf"
  start_cmd = "/etc/keepalived/ctl start"
  stop_cmd = "/etc/keepalived/ctl stop"
  daemon_log = "$DAEMON_LOG"
EOF
        done
    } >"$LAB/vipdeck.toml"

    # Two clusters on the same two hosts: the lab's, and "lab2" (another
    # VIP, its own state file and notify log; the same keepalived.conf,
    # daemon log and interface), for what watching costs a shared host.
    {
        cat "$LAB/vipdeck.toml"
        cat <<EOF

[[clusters]]
name = "lab2"
mode = "$MODE"
vip = "$NET.101"
EOF
        if [ "$MODE" = havip ]; then echo 'havip_id = "havip-lab00002"'; fi
        for n in "${NODES[@]}"; do
            cat <<EOF

  [[clusters.peers]]
  name = "vdlab-$n"
  ssh = "vdlab-$n"
  network_interface_id = "${NODE_ENI[$n]}"
  instance_id = "${NODE_INS[$n]}"
  interface = "eth0"
  state_file = "/var/keepalived/state-lab2"
  log_file = "/var/log/keepalived-lab2.log"
  keepalived_conf = "/etc/keepalived/keepalived.conf"
  daemon_log = "$DAEMON_LOG"
EOF
        done
    } >"$LAB/vipdeck-two.toml"

    # The SDK profile format of the credential chain (INI, [default]).
    printf '[default]\nsecret_id = %s\nsecret_key = %s\n' "$SECRET_ID" "$SECRET_KEY" >"$LAB/credentials"
    chmod 600 "$LAB/credentials"
}

write_world() {
    local created
    created=$(TZ=Asia/Shanghai date '+%Y-%m-%d %H:%M:%S')
    render "$HERE/world.json.tmpl" SECRET_ID="$SECRET_ID" SECRET_KEY="$SECRET_KEY" REGION="$REGION" \
        SUBNET="$SUBNET" VIP="$VIP" IP_A="${NODE_IP[a]}" IP_B="${NODE_IP[b]}" \
        MAC_A="$(real_mac a)" MAC_B="$(real_mac b)" CREATED="$created" |
        if [ "$MODE" = eni ]; then
            # ENI mode: the VIP is a secondary private IP of node a's ENI; no HAVIP.
            jq '.HaVips = []'
        else
            # HAVIP mode: the VIP is an HAVIP, not on any ENI.
            jq '.NetworkInterfaces |= map(.PrivateIpAddressSet |= map(select(.Primary)))'
        fi >"$LAB/world.json"
    chmod 600 "$LAB/world.json"
}

# The lab VPC: client ns --- router ns --- lab bridge (nodes, host).
# The router sends the VIP to the bound node's own IP (a host route kept by
# vpc-route.sh), never ARPs it; a node without the VIP on its NIC drops it
# (no forwarding in a node). The host reaches the VIP through the router
# too, so vipdeck's probe takes the client's path.
build_vpc() {
    ip netns add "$RTR"
    ip netns add "$CLIENT"
    local s
    # Before the links exist, so that each new interface inherits `default`.
    for s in net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0; do
        ip netns exec "$RTR" sysctl -qw "$s"
    done
    ip link add vdlab-rtr-h type veth peer name lan netns "$RTR"
    ip link set vdlab-rtr-h master "$BR"
    ip link set vdlab-rtr-h up
    ip -n "$RTR" link add cli type veth peer name eth0 netns "$CLIENT"
    ip -n "$RTR" link set lo up
    ip -n "$RTR" addr add "$RTR_LAN_IP/$PREFIX" dev lan
    ip -n "$RTR" addr add "$RTR_CLIENT_IP/24" dev cli
    ip -n "$RTR" link set lan up
    ip -n "$RTR" link set cli up
    # The host's frames come in on `lan` and go out on it to a node: no
    # redirect may tell the host to skip the router.
    for s in lan cli; do
        ip netns exec "$RTR" sysctl -qw "net.ipv4.conf.$s.send_redirects=0" "net.ipv4.conf.$s.rp_filter=0"
    done
    # Until the first binding is read: the VIP goes nowhere.
    ip -n "$RTR" route add unreachable "$VIP/32"
    ip -n "$CLIENT" link set lo up
    ip -n "$CLIENT" addr add "$CLIENT_IP/24" dev eth0
    ip -n "$CLIENT" link set eth0 up
    ip -n "$CLIENT" route add default via "$RTR_CLIENT_IP"
    local n
    for n in "${NODES[@]}"; do
        ip -n "$(ns "$n")" route add "$CLIENT_SUBNET" via "$RTR_LAN_IP"
    done
    ip route replace "$VIP/32" via "$RTR_LAN_IP" dev "$BR"
}

start_vpc_route() {
    : >"$LAB/vpc-route.log"
    setsid "$HERE/vpc-route.sh" "$MODE" "$VIP" "$CLOUD_URL" "$RTR" "$LAB/vpc-route.log" \
        "vdlab-a=${NODE_IP[a]}" "vdlab-b=${NODE_IP[b]}" \
        </dev/null >>"$LAB/vpc-route.out" 2>&1 9>&- &
    echo $! >"$LAB/pids/vpc-route.pid"
}

# The node's service on port 8080 (tests/lab/node/http-service.py).
start_http_service() {
    local n=$1
    install -m 755 "$HERE/node/http-service.py" "$LAB/$n/etc/keepalived/http-service.py"
    # shellcheck disable=SC2016 # expanded by the inner shell
    node_exec "$n" /bin/sh -c 'setsid "$@" </dev/null >>/var/log/http-service.log 2>&1 & echo $!' sh \
        /usr/bin/python3 /etc/keepalived/http-service.py "$SERVICE_PORT" >"$LAB/pids/http-$n.pid"
}

# The lab config with the data-plane probe: vipdeck-probe.toml.
write_probe_config() {
    awk -v vip="$VIP" -v port="$SERVICE_PORT" '
        { print }
        !done && /^vip = / {
            print "probe = \"http://" vip ":" port "/health\""
            print "probe_node = \"header:X-Node\""
            print "probe_interval_ms = 500"
            print "probe_timeout_ms = 400"
            done = 1
        }' "$LAB/vipdeck.toml" >"$LAB/vipdeck-probe.toml"
}

real_mac() { ip -n "$(ns "$1")" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

start_cloudsim() {
    local bin=$1
    [ -x "$bin" ] || die "--cloudsim-bin $bin is not executable"
    setsid "$bin" cloudsim --listen "$HOST_IP:$CLOUD_PORT" --state "$LAB/world.json" \
        </dev/null >"$LAB/cloudsim.log" 2>&1 9>&- &
    echo $! >"$LAB/pids/cloudsim.pid"
    local line=''
    for _ in $(seq 150); do
        line=$(grep -m1 -o 'cloudsim listening on http://[^ ]*' "$LAB/cloudsim.log" 2>/dev/null || true)
        [ -n "$line" ] && break
        kill -0 "$(cat "$LAB/pids/cloudsim.pid")" 2>/dev/null || die "cloudsim exited: $(tail -5 "$LAB/cloudsim.log")"
        sleep 0.1
    done
    [ -n "$line" ] || die "cloudsim did not print 'cloudsim listening on' within 15 s (see $LAB/cloudsim.log)"
    echo "${line#cloudsim listening on }"
}

start_garp_watch() {
    mkdir -p "$LAB/garp-ignore"
    setsid "$HERE/garp-watch.sh" "$BR" "$VIP" "$CLOUD_URL" "$LAB/garp-ignore" \
        </dev/null >>"$LAB/garp-watch.log" 2>&1 9>&- &
    echo $! >"$LAB/pids/garp-watch.pid"
}

find_python() {
    # The Tencent Cloud SDK for vip.py: VIPDECK_PYTHON, else the project's .venv.
    local py
    for py in "${VIPDECK_PYTHON:-}" "$REPO/.venv/bin/python"; do
        if [ -z "$py" ] || [ ! -x "$py" ]; then continue; fi
        if "$py" -c 'import tencentcloud.vpc.v20170312' 2>/dev/null; then
            echo "$py"
            return
        fi
    done
}

# Sorts before: version_lt 1.3.5 2.2 is true.
version_lt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }

# KA_VERSION -> KA_BIN (the binary), KA_OPTIONS (how ctl starts it), KA_LOG,
# DAEMON_LOG, CONSOLE_LOG. Another version than Debian's comes from
# tests/lab/keepalived-build.sh, which builds it on a cache miss; its failure
# fails `up` (no fallback to Debian's).
resolve_keepalived() {
    if [ -z "$KA_VERSION" ]; then
        KA_VERSION=$DEBIAN_KEEPALIVED_VERSION
        KA_BIN=$DEBIAN_KEEPALIVED
    else
        local out
        [ -x "$HERE/keepalived-build.sh" ] || die "keepalived $KA_VERSION: no $HERE/keepalived-build.sh"
        out=$("$HERE/keepalived-build.sh" "$KA_VERSION" 9>&-) ||
            die "keepalived $KA_VERSION: tests/lab/keepalived-build.sh $KA_VERSION failed (its reason above)"
        KA_BIN=$(printf '%s\n' "$out" | tail -n 1)
        [ -n "$KA_BIN" ] && [ -x "$KA_BIN" ] ||
            die "keepalived $KA_VERSION: keepalived-build.sh printed no executable ('$KA_BIN')"
    fi
    local said
    said=$("$KA_BIN" --version 2>&1 | head -n 1 || true)
    case "$said" in
        "Keepalived v$KA_VERSION "* | "Keepalived v$KA_VERSION") ;;
        *) die "keepalived $KA_VERSION: $KA_BIN says '$said'" ;;
    esac
    # The options this version has (1.x: no --no-syslog, no --signum).
    local help
    help=$("$KA_BIN" --help 2>&1 || true)
    has() { grep -q -- "$1" <<<"$help"; }
    local o
    for o in --dont-fork --log-detail --use-file; do
        has "$o" || die "keepalived $KA_VERSION has no $o"
    done
    if version_lt "$KA_VERSION" 2.2; then
        # 1.x .. 2.1 (CentOS 7/8): syslog, through the node's rsyslogd into
        # /var/log/messages, as `keepalived -D` under systemd there.
        KA_LOG=syslog
        KA_OPTIONS="--dont-fork --log-detail"
        DAEMON_LOG=/var/log/messages
        CONSOLE_LOG=/var/log/keepalived-console.log
        command -v rsyslogd >/dev/null || die "keepalived $KA_VERSION logs through syslog: rsyslogd is missing (scripts/install-lab-deps.sh)"
    else
        # 2.2+: the console log (its lines carry a time), no syslog in the node.
        has --no-syslog || die "keepalived $KA_VERSION has no --no-syslog"
        KA_LOG=console
        KA_OPTIONS="--dont-fork --log-console --log-detail --no-syslog"
        DAEMON_LOG=/var/log/keepalived-daemon.log
        CONSOLE_LOG=$DAEMON_LOG
    fi
    # Debian's own keeps today's command line; a build gets its pid files
    # named (its compiled-in run directory may differ).
    if [ "$KA_BIN" != "$DEBIAN_KEEPALIVED" ]; then
        KA_OPTIONS="$KA_OPTIONS --pid=/run/keepalived.pid --vrrp_pid=/run/vrrp.pid"
    fi
}

check_deps() {
    local missing=() c
    for c in keepalived /usr/sbin/sshd ssh ssh-keygen ip nsenter unshare flock jq curl iptables; do
        command -v "$c" >/dev/null || missing+=("$c")
    done
    if [ "$MODE" = havip ] && [ -n "$CLOUDSIM_BIN" ]; then
        command -v tcpdump >/dev/null || missing+=(tcpdump)
    fi
    [ "${#missing[@]}" -eq 0 ] || die "missing ${missing[*]}: run scripts/install-lab-deps.sh"
}

do_up() {
    MODE=eni
    CLOUDSIM_BIN=${VIPDECK_BIN:-}
    KA_VERSION=${VDLAB_KEEPALIVED:-}
    USERLAND=${VDLAB_USERLAND:-stock}
    while [ $# -gt 0 ]; do
        case "$1" in
            --userland) USERLAND=${2:?--userland needs stock or busybox}; shift 2 ;;
            --userland=*) USERLAND=${1#--userland=}; shift ;;
            --keepalived) KA_VERSION=${2:?--keepalived needs a VERSION}; shift 2 ;;
            --keepalived=*) KA_VERSION=${1#--keepalived=}; shift ;;
            --mode) MODE=${2:-}; shift 2 ;;
            --mode=*) MODE=${1#--mode=}; shift ;;
            --cloudsim-bin) CLOUDSIM_BIN=${2:-}; shift 2 ;;
            --cloudsim-bin=*) CLOUDSIM_BIN=${1#--cloudsim-bin=}; shift ;;
            *) die "up: unknown argument $1" ;;
        esac
    done
    case "$MODE" in eni | havip) ;; *) die "--mode must be eni or havip" ;; esac
    case "$USERLAND" in stock | busybox) ;; *) die "--userland must be stock or busybox" ;; esac
    check_deps
    resolve_keepalived
    CLOUD_URL=''
    PYTHON=$(find_python)
    # A venv's python is seen inside the nodes at /tmp/vdlab-venv (see
    # build_node_ns); any other python at its own path.
    VENV='' NODE_PYTHON=$PYTHON
    if [ -n "$PYTHON" ] && [ -f "$(dirname "$(dirname "$PYTHON")")/pyvenv.cfg" ]; then
        VENV=$(dirname "$(dirname "$PYTHON")")
        NODE_PYTHON=/tmp/vdlab-venv/bin/$(basename "$PYTHON")
    fi
    if [ -n "$CLOUDSIM_BIN" ] && [ "$MODE" = eni ] && [ -z "$PYTHON" ]; then
        die "eni mode with the emulator needs the Tencent Cloud SDK: run scripts/setup-venv.sh (or set VIPDECK_PYTHON)"
    fi

    do_down
    mkdir -p "$LAB/ns" "$LAB/pids" "$LAB/ssh"
    chmod 700 "$LAB/ssh"
    # Namespace files need a mount whose propagation is private.
    mount --bind "$LAB/ns" "$LAB/ns"
    mount --make-private "$LAB/ns"
    local p
    for p in /etc/keepalived /etc/ssh /var/keepalived /var/log /run /tmp; do mountpoint_dir "$p"; done
    ssh-keygen -q -t ed25519 -N '' -C vdlab-client -f "$LAB/ssh/id_ed25519"
    : >"$LAB/ssh/known_hosts"

    build_network
    write_world
    if [ -n "$CLOUDSIM_BIN" ]; then
        CLOUD_URL=$(start_cloudsim "$CLOUDSIM_BIN")
        note "cloudsim at $CLOUD_URL (pid $(cat "$LAB/pids/cloudsim.pid"))"
        if [ "$MODE" = havip ]; then start_garp_watch; fi
    else
        note "no --cloudsim-bin / VIPDECK_BIN: running without the cloud emulator (no VIP migration, no HAVIP binding)"
    fi

    BUSYBOX_BIN=''
    if [ "$USERLAND" = busybox ]; then
        BUSYBOX_BIN=$(busybox_bin)
    fi
    local n
    for n in "${NODES[@]}"; do
        build_node_files "$n"
        build_node_ns "$n"
    done
    write_client_files
    VPC=no
    if [ -n "$CLOUD_URL" ]; then
        build_vpc
        start_vpc_route
        write_probe_config
        VPC=yes
    fi
    cat >"$LAB/lab.env" <<EOF
VDLAB_MODE=$MODE
VDLAB_CLOUD_URL=$CLOUD_URL
VDLAB_KEEPALIVED_VERSION=$KA_VERSION
VDLAB_KEEPALIVED_BIN=$KA_BIN
VDLAB_KEEPALIVED_LOG=$KA_LOG
VDLAB_DAEMON_LOG=$DAEMON_LOG
VDLAB_USERLAND=$USERLAND
VDLAB_VPC=$VPC
VDLAB_ROOT=$LAB
VIPDECK_CONFIG=$LAB/vipdeck.toml
TENCENTCLOUD_CREDENTIALS_FILE=$LAB/credentials
EOF

    for n in "${NODES[@]}"; do
        node_exec "$n" /usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log
        if [ "$VPC" = yes ]; then start_http_service "$n"; fi
    done
    if [ "$KA_LOG" = syslog ]; then
        for n in "${NODES[@]}"; do start_rsyslogd "$n"; done
    fi
    for n in "${NODES[@]}"; do
        node_exec "$n" /etc/keepalived/ctl start >/dev/null
    done
    for n in "${NODES[@]}"; do
        ssh -F "$LAB/ssh_config" "vdlab-$n" true || die "ssh to vdlab-$n failed (see $LAB/$n/var/log/sshd.log)"
    done
    local m
    m=$(wait_master 15) || die "no single MASTER within 15 s; lab.sh status"
    note "up (mode $MODE, keepalived $KA_VERSION, daemon log $DAEMON_LOG): MASTER is vdlab-$m"
    do_paths
}

# ---------------------------------------------------------------- inspect

env_value() { sed -n "s/^$1=//p" "$LAB/lab.env" 2>/dev/null; }

load_env() {
    need_up
    MODE=$(sed -n 's/^VDLAB_MODE=//p' "$LAB/lab.env")
    CLOUD_URL=$(sed -n 's/^VDLAB_CLOUD_URL=//p' "$LAB/lab.env")
}

keepalived_pid() {
    local pid
    pid=$(cat "$LAB/$1/run/keepalived.pid" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = keepalived ] || return 1
    echo "$pid"
}

state_of() { cat "$LAB/$1/var/keepalived/state" 2>/dev/null || true; }

vip_on_nic() { ip -n "$(ns "$1")" -o -4 addr show dev eth0 | grep -qw "inet $VIP/$PREFIX"; }

# The single node whose keepalived runs, whose state file says MASTER and
# whose NIC holds the VIP; fails if there is not exactly one.
current_master() {
    local n found=()
    for n in "${NODES[@]}"; do
        if keepalived_pid "$n" >/dev/null && [ "$(state_of "$n")" = MASTER ] && vip_on_nic "$n"; then
            found+=("$n")
        fi
    done
    [ "${#found[@]}" -eq 1 ] || return 1
    echo "${found[0]}"
}

wait_master() {
    local limit=${1:-10} start
    start=$(date +%s%N)
    while true; do
        if current_master; then return 0; fi
        [ $(( ($(date +%s%N) - start) / 1000000 )) -lt $((limit * 1000)) ] || return 1
        sleep 0.1
    done
}

do_status() {
    load_env
    echo "lab root $LAB, mode $MODE, bridge $BR ($HOST_IP), keepalived $(env_value VDLAB_KEEPALIVED_VERSION) (daemon log $(env_value VDLAB_DAEMON_LOG))"
    local n pid link
    for n in "${NODES[@]}"; do
        pid=$(keepalived_pid "$n" || echo -)
        link=$(ip -o link show "vdlab-$n-h" 2>/dev/null | grep -q 'state UP' && echo up || echo DOWN)
        printf 'vdlab-%s %-12s keepalived=%-7s state=%-7s vip_on_nic=%-3s link=%-4s' \
            "$n" "${NODE_IP[$n]}" "$pid" "$(state_of "$n")" "$(vip_on_nic "$n" && echo yes || echo no)" "$link"
        if node_exec "$n" iptables -S INPUT 2>/dev/null | grep -q vdlab-blackhole; then printf ' ssh=BLACKHOLED'; fi
        if node_exec "$n" iptables -S INPUT 2>/dev/null | grep -q vdlab-vrrpcut; then printf ' vrrp=CUT'; fi
        if [ -e "$LAB/$n/notify-broken" ]; then printf ' notify=BROKEN'; fi
        echo
        tail -n 3 "$LAB/$n/var/log/keepalived.log" 2>/dev/null | sed 's/^/    /' || true
    done
    if [ -z "$CLOUD_URL" ]; then
        echo "cloud: no emulator in this run"
        return 0
    fi
    local cpid out
    cpid=$(cat "$LAB/pids/cloudsim.pid" 2>/dev/null || echo -)
    echo "cloud: cloudsim pid $cpid at $CLOUD_URL"
    if [ -n "$(find_python)" ]; then
        for n in "${NODES[@]}"; do
            # A node whose vip.py is broken (break-notify) answers with an error.
            if out=$(node_exec "$n" /etc/keepalived/vip.py where 2>/dev/null); then
                echo "cloud: $out"
                break
            fi
        done
    fi
}

do_paths() {
    cat <<EOF
lab root:      $LAB
ssh_config:    $LAB/ssh_config        (ssh -F $LAB/ssh_config vdlab-a)
vipdeck.toml:  $LAB/vipdeck.toml
two clusters:  $LAB/vipdeck-two.toml   (lab + lab2 on the same two hosts)
world.json:    $LAB/world.json
credentials:   $LAB/credentials       (TENCENTCLOUD_CREDENTIALS_FILE)
node files:    $LAB/{a,b}/{etc/keepalived,etc/ssh,var/keepalived,var/log,tmp,run}
EOF
    if [ "$(env_value VDLAB_VPC)" = yes ]; then
        cat <<EOF
lab VPC:       client $CLIENT ($CLIENT_IP) -> router $RTR ($RTR_LAN_IP) -> the bound node
with probe:    $LAB/vipdeck-probe.toml   (probe = http://$VIP:$SERVICE_PORT/health)
route log:     $LAB/vpc-route.log   client loop: $LAB/client-loop.log
EOF
    fi
    if [ -f "$LAB/lab.env" ]; then
        cat <<EOF
keepalived:    $(env_value VDLAB_KEEPALIVED_VERSION) ($(env_value VDLAB_KEEPALIVED_BIN), logging to $(env_value VDLAB_KEEPALIVED_LOG))
daemon log:    $(env_value VDLAB_DAEMON_LOG)   (in each node; $LAB/{a,b}$(env_value VDLAB_DAEMON_LOG))
EOF
    fi
}

# ---------------------------------------------------------------- faults

fault() {
    local verb=$1 n
    n=$(node_name "${2:-}")
    load_env
    case "$verb" in
        stop-keepalived) node_exec "$n" /etc/keepalived/ctl stop ;;
        start-keepalived) node_exec "$n" /etc/keepalived/ctl start ;;
        kill-keepalived)
            # A crash: SIGKILL to every keepalived process of the node. Nothing
            # cleans up, so the state file and the VIP on the NIC stay behind.
            local pids
            pids=$(for p in $(ip netns pids "$(ns "$n")"); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = keepalived ] && echo "$p"; done || true)
            [ -n "$pids" ] || die "no keepalived running on vdlab-$n"
            # Freeze them all first: keepalived's VRRP child gets SIGTERM when
            # its parent dies (PR_SET_PDEATHSIG) and would otherwise run
            # notify_stop and drop the VIP in the moment between two kills.
            # shellcheck disable=SC2086
            kill -STOP $pids
            # shellcheck disable=SC2086
            kill -KILL $pids
            note "killed keepalived on vdlab-$n (pids ${pids//$'\n'/ })"
            ;;
        cut-link) ip link set "vdlab-$n-h" down; note "vdlab-$n link down" ;;
        restore-link) ip link set "vdlab-$n-h" up; note "vdlab-$n link up" ;;
        blackhole-ssh)
            # Silently drop tcp/22 both ways: new and established connections hang.
            if ! node_exec "$n" iptables -S INPUT | grep -q vdlab-blackhole; then
                node_exec "$n" iptables -I INPUT -p tcp --dport 22 -m comment --comment vdlab-blackhole -j DROP
                node_exec "$n" iptables -I OUTPUT -p tcp --sport 22 -m comment --comment vdlab-blackhole -j DROP
            fi
            note "vdlab-$n ssh black-holed"
            ;;
        restore-ssh)
            while node_exec "$n" iptables -D INPUT -p tcp --dport 22 -m comment --comment vdlab-blackhole -j DROP 2>/dev/null; do :; done
            while node_exec "$n" iptables -D OUTPUT -p tcp --sport 22 -m comment --comment vdlab-blackhole -j DROP 2>/dev/null; do :; done
            note "vdlab-$n ssh restored"
            ;;
        cut-vrrp)
            # Drop VRRP (IP protocol 112) both ways inside the node: each
            # side stops hearing the other's adverts and becomes MASTER,
            # while ssh and the cloud keep working: a split brain.
            if ! node_exec "$n" iptables -S INPUT | grep -q vdlab-vrrpcut; then
                node_exec "$n" iptables -I INPUT -p 112 -m comment --comment vdlab-vrrpcut -j DROP
                node_exec "$n" iptables -I OUTPUT -p 112 -m comment --comment vdlab-vrrpcut -j DROP
            fi
            note "vdlab-$n VRRP cut"
            ;;
        restore-vrrp)
            while node_exec "$n" iptables -D INPUT -p 112 -m comment --comment vdlab-vrrpcut -j DROP 2>/dev/null; do :; done
            while node_exec "$n" iptables -D OUTPUT -p 112 -m comment --comment vdlab-vrrpcut -j DROP 2>/dev/null; do :; done
            note "vdlab-$n VRRP restored"
            ;;
        break-notify | fix-notify)
            [ -n "$CLOUD_URL" ] || die "$verb needs the cloud emulator (up --cloudsim-bin PATH)"
            if [ "$MODE" = eni ]; then
                # vip.py signs with a wrong SecretKey: MigratePrivateIpAddress fails.
                if [ "$verb" = break-notify ]; then
                    write_vip_conf "$n" "$WRONG_KEY"
                else
                    write_vip_conf "$n" "$SECRET_KEY"
                fi
            else
                # HAVIP mode: the node's GARPs are not passed on, so the HAVIP
                # does not follow it.
                local mac
                mac=$(real_mac "$n")
                if [ "$verb" = break-notify ]; then : >"$LAB/garp-ignore/$mac"; else rm -f "$LAB/garp-ignore/$mac"; fi
            fi
            if [ "$verb" = break-notify ]; then : >"$LAB/$n/notify-broken"; else rm -f "$LAB/$n/notify-broken"; fi
            note "vdlab-$n: $verb done"
            ;;
    esac
}

# ---------------------------------------------------------------- the lab VPC

need_vpc() {
    load_env
    [ "$(env_value VDLAB_VPC)" = yes ] || die "no lab VPC in this run (it comes with the emulator: up --cloudsim-bin PATH)"
}

vpc() {
    local verb=$1
    shift
    need_vpc
    local url="http://$VIP:$SERVICE_PORT/"
    case "$verb" in
        client-probe)
            ip netns exec "$CLIENT" /usr/bin/python3 "$HERE/client.py" probe "$url"
            ;;
        client-loop)
            case "${1:-}" in
                start)
                    kill_pidfile "$LAB/pids/client-loop.pid" client.py
                    : >"$LAB/client-loop.log"
                    setsid ip netns exec "$CLIENT" /usr/bin/python3 "$HERE/client.py" loop "$url" \
                        "$LAB/client-loop.log" "$CLIENT_LOOP_MAX_S" </dev/null >>"$LAB/client-loop.out" 2>&1 9>&- &
                    echo $! >"$LAB/pids/client-loop.pid"
                    note "client loop started (pid $!): $LAB/client-loop.log"
                    ;;
                stop)
                    kill_pidfile "$LAB/pids/client-loop.pid" client.py
                    note "client loop stopped"
                    ;;
                *) die "client-loop start|stop" ;;
            esac
            ;;
        block-probe)
            # Only the host (where vipdeck runs) to VIP:8080, in the router:
            # the client's traffic passes.
            local target=(DROP)
            if [ "${1:-}" = --reject ]; then target=(REJECT --reject-with tcp-reset); fi
            if ! ip netns exec "$RTR" iptables -S FORWARD | grep -q vdlab-probeblock; then
                ip netns exec "$RTR" iptables -I FORWARD -s "$HOST_IP" -d "$VIP" -p tcp --dport "$SERVICE_PORT" \
                    -m comment --comment vdlab-probeblock -j "${target[@]}"
            fi
            note "the router ${target[0]}s $HOST_IP -> $VIP:$SERVICE_PORT"
            ;;
        unblock-probe)
            local rule
            ip netns exec "$RTR" iptables -S FORWARD | grep vdlab-probeblock | sed 's/^-A /-D /' |
                while read -r rule; do
                    # shellcheck disable=SC2086 # the rule's own words
                    eval ip netns exec "$RTR" iptables $rule
                done
            note "the router passes $HOST_IP -> $VIP:$SERVICE_PORT again"
            ;;
    esac
}

# ---------------------------------------------------------------- main

usage() {
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
    local verb=${1:-}
    [ $# -gt 0 ] && shift
    case "$verb" in
        up) need_root "$verb"; lock; do_up "$@" ;;
        down) need_root "$verb"; lock; do_down; note "down" ;;
        status) need_root "$verb"; do_status ;;
        paths) do_paths ;;
        exec)
            need_root "$verb"
            local n
            n=$(node_name "${1:-}")
            shift
            need_up
            node_exec "$n" "$@"
            ;;
        ssh)
            local n
            n=$(node_name "${1:-}")
            shift
            exec ssh -F "$LAB/ssh_config" "vdlab-$n" "$@"
            ;;
        wait-master) need_root "$verb"; need_up; wait_master "${1:-10}" | sed 's/^/vdlab-/' ;;
        stop-keepalived | kill-keepalived | start-keepalived | cut-link | restore-link | \
            blackhole-ssh | restore-ssh | break-notify | fix-notify | cut-vrrp | restore-vrrp)
            need_root "$verb"
            fault "$verb" "$@"
            ;;
        client-probe | client-loop | block-probe | unblock-probe)
            need_root "$verb"
            vpc "$verb" "$@"
            ;;
        -h | --help | help | "") usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
