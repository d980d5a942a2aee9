#!/usr/bin/env bash
# GARP watcher of the vipdeck lab (havip mode): the VPC rebinds an HAVIP to
# the device that announces it with gratuitous ARP. This watches the lab
# bridge and reports each GARP for the VIP to the emulator's admin endpoint,
# which then plays the VPC's part (rate limits, delays, FlushedTime).
#
# usage: garp-watch.sh BRIDGE VIP EMULATOR_URL IGNORE_DIR
# A file IGNORE_DIR/<mac> makes the watcher drop that device's claims: the
# lab's `break-notify` uses it to model an HAVIP that does not follow.
set -euo pipefail

bridge=$1
vip=$2
url=$3
ignore_dir=$4

mac_re='([0-9a-f]{2}(:[0-9a-f]{2}){5})'
ip_re='([0-9]{1,3}(\.[0-9]{1,3}){3})'

report() {
    local mac=$1
    if [ -e "$ignore_dir/$mac" ]; then
        echo "$(date '+%F %T') GARP $vip from $mac ignored (break-notify)"
        return
    fi
    local body
    body=$(printf '{"mac":"%s","ip":"%s"}' "$mac" "$vip")
    if curl -sS -m 3 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -X POST --data "$body" "$url/admin/garp" >/tmp/vdlab-garp-code.$$ 2>&1; then
        echo "$(date '+%F %T') GARP $vip from $mac reported: HTTP $(cat /tmp/vdlab-garp-code.$$)"
    else
        echo "$(date '+%F %T') GARP $vip from $mac NOT reported: $(cat /tmp/vdlab-garp-code.$$)"
    fi
    rm -f /tmp/vdlab-garp-code.$$
}

# -l: line buffered; -e: print the Ethernet source; -n: no name lookups.
# Lines look like:
#   12:00:01.5 02:00:00:00:00:0b > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806),
#     length 42: Request who-has 198.51.100.100 tell 198.51.100.100, length 28
#   ... Reply 198.51.100.100 is-at 02:00:00:00:00:0b, length 28
tcpdump -l -n -e -i "$bridge" arp 2>/dev/null | while IFS= read -r line; do
    [[ $line =~ ^[^\ ]+\ $mac_re\ \>\ $mac_re, ]] || continue
    src=${BASH_REMATCH[1]}
    dst=${BASH_REMATCH[3]}
    if [[ $line =~ who-has\ $ip_re(\ \([^\)]*\))?\ tell\ $ip_re ]]; then
        # Gratuitous: sender and target protocol address are both the VIP.
        if [ "${BASH_REMATCH[1]}" != "$vip" ] || [ "${BASH_REMATCH[4]}" != "$vip" ]; then continue; fi
        report "$src"
    elif [[ $line =~ Reply\ $ip_re\ is-at\ $mac_re ]]; then
        # Only a broadcast reply is gratuitous; a unicast one answers a query.
        if [ "${BASH_REMATCH[1]}" != "$vip" ] || [ "$dst" != ff:ff:ff:ff:ff:ff ]; then continue; fi
        report "${BASH_REMATCH[3]}"
    fi
done
