#!/usr/bin/env bash
# The lab VPC's routing (docs/lab.md): a real VPC sends the VIP to the
# instance the cloud binds it to, whatever keepalived says. This polls the
# emulator's world every 150 ms and keeps the router namespace's host route
# `VIP via NODE_IP` on the bound node (HAVIP: the ENI the HAVIP names; ENI
# mode: the ENI holding the VIP as a secondary IP). Unbound: an unreachable
# route, never the VIP ARPed on the bridge. Each change is logged as
# `EPOCH_MS NODE ENI` (NODE `none` when unbound) to the log file.
#
# usage: vpc-route.sh MODE VIP EMULATOR_URL ROUTER_NS LOG NAME=IP...
# (NAME=IP: the nodes' names and primary IPs, to name the route's target)
set -uo pipefail

mode=$1 vip=$2 url=$3 rtr=$4 log=$5
shift 5
declare -A name_of=()
for kv in "$@"; do name_of[${kv#*=}]=${kv%%=*}; done

# The bound ENI, then its primary IP ("none" when unbound).
# shellcheck disable=SC2016 # jq's own variables
query='
  . as $w
  | (if $mode == "havip"
     then ($w.HaVips // [] | map(select(.AddressIp == $vip)) | .[0].NetworkInterfaceId // "")
     else ($w.NetworkInterfaces // [] | map(select(any(.PrivateIpAddressSet[]?; .PrivateIpAddress == $vip)))
           | .[0].NetworkInterfaceId // "")
     end) as $eni
  | if $eni == "" then "none none"
    else $eni + " " + ($w.NetworkInterfaces | map(select(.NetworkInterfaceId == $eni)) | .[0].PrivateIpAddressSet // []
                       | map(select(.Primary)) | .[0].PrivateIpAddress // "none")
    end'

now_ms() { local t=${EPOCHREALTIME/./}; echo "${t:0:13}"; }

last=''
while true; do
    if world=$(curl -sf -m 1 "$url/admin/world"); then
        cur=$(jq -r --arg mode "$mode" --arg vip "$vip" "$query" <<<"$world" 2>/dev/null) || cur=''
        # An unreadable world keeps the route as it is: the VPC does not
        # forget a binding because its API is slow.
        if [ -n "$cur" ] && [ "$cur" != "$last" ]; then
            eni=${cur%% *} ip=${cur#* }
            if [ "$ip" = none ]; then
                ip -n "$rtr" route replace unreachable "$vip/32"
                node=none
            else
                ip -n "$rtr" route replace "$vip/32" via "$ip" dev lan
                node=${name_of[$ip]:-$ip}
            fi
            echo "$(now_ms) $node $eni" >>"$log"
            last=$cur
        fi
    fi
    sleep 0.15
done
