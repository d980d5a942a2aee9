#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# /etc/keepalived/vip.py — the seed documents' vip.py, on the current official
# Tencent Cloud SDK (tencentcloud-sdk-python-vpc). notify_master runs
# `vip.py migrate`: move the VIP to this node's ENI with MigratePrivateIpAddress.
# It writes the same lines to /var/log/keepalived.log as the seed script:
#   [time][pidN] migrate / [time][pidN]  try set vip. / ... call ret {...}
#   ... set done / ... set vip failed / ... vip.py checks vip: is this cvm holding the vip? true
# Settings (endpoint, keys, ENI ids) come from /etc/keepalived/vip.conf (JSON)
# instead of being edited into the script. The SecretKey is never logged.
import json
import os
import subprocess
import sys
import time

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.vpc.v20170312 import models, vpc_client

CONF_FILE = os.environ.get("VIP_CONF", "/etc/keepalived/vip.conf")
LOG_FILE = "/var/log/keepalived.log"
STATE_FILE = "/var/keepalived/state"

with open(CONF_FILE) as f:
    conf = json.load(f)

vip = conf["vip"]
interface = {conf["interface"]: conf["primary_ip"]}
thisNetworkInterfaceId = conf.get("this_eni", "")
thatNetworkInterfaceId = conf.get("that_eni", "")

_log = None


def get_now_time():
    return time.strftime("[%Y-%m-%d %H:%M:%S]", time.localtime(time.time())) + "[pid" + str(os.getpid()) + "]"


def log_write(message=""):
    global _log
    if _log is None:
        _log = open(LOG_FILE, "a+")
    _log.write(get_now_time() + " " + str(message) + "\n")
    _log.flush()


def client():
    http = HttpProfile(reqTimeout=10)
    endpoint = conf["endpoint"]
    if "://" in endpoint:
        http.protocol, endpoint = endpoint.split("://", 1)
        http.scheme = http.protocol
    http.endpoint = endpoint.rstrip("/")
    cred = credential.Credential(conf["secret_id"], conf["secret_key"])
    return vpc_client.VpcClient(cred, conf["region"], ClientProfile(httpProfile=http))


def error_json(e):
    # The same shape the API returns, so the log line reads like a real answer.
    return json.dumps({"Response": {"Error": {"Code": e.get_code(), "Message": e.get_message()},
                                    "RequestId": e.get_request_id()}})


def get_ip():
    dev, ip = list(interface.items())[0]
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", dev], capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            addr = fields[fields.index("inet") + 1].split("/")[0]
            if addr == ip:
                return addr
    return ""


def read_state():
    try:
        with open(STATE_FILE) as f:
            return f.readline()
    except OSError:
        return ""


def wait_task(c, request_id):
    # MigratePrivateIpAddress is asynchronous: its RequestId is the task id.
    for _ in range(20):
        req = models.DescribeVpcTaskResultRequest()
        req.TaskId = request_id
        try:
            resp = c.DescribeVpcTaskResult(req)
        except TencentCloudSDKException as e:
            log_write(" task ret " + error_json(e))
            return None
        if resp.Status != "RUNNING":
            log_write(" task ret " + resp.to_json_string())
            return resp.Status == "SUCCESS"
        time.sleep(0.5)
    return None


def migrateVip():
    log_write(sys.argv[1])
    log_write(" try set vip.")
    retry_times_when_mgr_ip_got = 4
    get_ip_times = 0
    time.sleep(0.5)
    c = client()
    while get_ip_times < 5:
        log_write(" get_ip=" + get_ip())
        if get_ip() == interface[conf["interface"]]:
            log_write(" now set vip.")
            i = 0
            while i < retry_times_when_mgr_ip_got:
                if queryVip(c) == "true":
                    break
                if read_state() != "MASTER":
                    break
                req = models.MigratePrivateIpAddressRequest()
                req.SourceNetworkInterfaceId = thatNetworkInterfaceId
                req.DestinationNetworkInterfaceId = thisNetworkInterfaceId
                req.PrivateIpAddress = vip
                try:
                    resp = c.MigratePrivateIpAddress(req)
                    log_write(" call ret " + resp.to_json_string())
                    if wait_task(c, resp.RequestId) is not False:
                        log_write(" set done")
                        break
                except TencentCloudSDKException as e:
                    log_write(" call ret " + error_json(e))
                i = i + 1
                time.sleep(2)
            if i >= retry_times_when_mgr_ip_got:
                log_write(" set vip failed")
            break
        time.sleep(0.5)
        get_ip_times = get_ip_times + 1
    log_write("vip.py checks vip: is this cvm holding the vip? " + queryVip(c))


def describe_enis(c):
    req = models.DescribeNetworkInterfacesRequest()
    req.NetworkInterfaceIds = [i for i in (thisNetworkInterfaceId, thatNetworkInterfaceId) if i]
    return c.DescribeNetworkInterfaces(req).NetworkInterfaceSet


def queryVip(c=None):
    # One change from the seed: a query that fails answers "false", not "true",
    # so a broken API call is retried and ends in "set vip failed" instead of
    # passing for a VIP this node holds.
    result = "true"
    try:
        c = c or client()
        req = models.DescribeNetworkInterfacesRequest()
        req.NetworkInterfaceIds = [thisNetworkInterfaceId]
        enis = c.DescribeNetworkInterfaces(req).NetworkInterfaceSet
        if enis:
            ips = set(p.PrivateIpAddress for p in enis[0].PrivateIpAddressSet)
            if len(ips) > 0 and vip not in ips:
                log_write(" vip not in master in qcloud")
                result = "false"
    except TencentCloudSDKException as e:
        log_write("call ret: " + error_json(e))
        log_write("attempt query vip failed")
        result = "false"
    return result


def where():
    # For the lab's status verb: where the cloud says the VIP is.
    c = client()
    out = {"eni": None, "havip": None}
    try:
        for eni in describe_enis(c):
            if any(p.PrivateIpAddress == vip for p in eni.PrivateIpAddressSet):
                out["eni"] = eni.NetworkInterfaceId
        req = models.DescribeHaVipsRequest()
        f = models.Filter()
        f.Name = "address-ip"
        f.Values = [vip]
        req.Filters = [f]
        for h in c.DescribeHaVips(req).HaVipSet or []:
            out["havip"] = {"HaVipId": h.HaVipId, "NetworkInterfaceId": h.NetworkInterfaceId,
                            "State": h.State, "FlushedTime": h.FlushedTime}
    except TencentCloudSDKException as e:
        out["error"] = e.get_code()
    print(json.dumps(out))
    return "error" not in out


def print_help():
    log_write(
        """
            ./vip.py migrate
                migrate your vip

            ./vip.py query
                query that if this cvm hold your vip in tencent cloud
                return: true or false
            """)


if __name__ == "__main__":
    if len(sys.argv) == 1:
        log_write("vip.py: parameter num is 0")
        print_help()
    elif sys.argv[1] == "migrate":
        migrateVip()
        log_write()
    elif sys.argv[1] == "query":
        print(queryVip())
    elif sys.argv[1] == "where":
        sys.exit(0 if where() else 1)
    else:
        log_write("vip.py: misMatched parameter")
        print_help()
