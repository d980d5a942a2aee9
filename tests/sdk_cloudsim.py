"""Drives `vipdeck cloudsim` with the official Tencent Cloud Python SDK,
unchanged, and prints one JSON line of what it saw. tests/cloud/cloudsim_sdk.rs
runs it and checks the result.

Usage: sdk_cloudsim.py HOST:PORT   (keys in TENCENTCLOUD_SECRET_ID/KEY,
a second, wrong key in CLOUDSIM_WRONG_SECRET_KEY)
"""

import json
import os
import sys
import time

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.vpc.v20170312 import models, vpc_client


def client(endpoint, secret_id, secret_key):
    # The SDK sends Host = endpoint and signs it; "http" because the
    # emulator speaks plain HTTP on loopback.
    http = HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=10)
    return vpc_client.VpcClient(
        credential.Credential(secret_id, secret_key), "ap-guangzhou", ClientProfile(httpProfile=http)
    )


def main():
    endpoint = sys.argv[1]
    sid = os.environ["TENCENTCLOUD_SECRET_ID"]
    skey = os.environ["TENCENTCLOUD_SECRET_KEY"]
    c = client(endpoint, sid, skey)
    out = {}

    req = models.DescribeHaVipsRequest()
    req.HaVipIds = ["havip-web00001"]
    resp = c.DescribeHaVips(req)
    h = resp.HaVipSet[0]
    out["havip"] = {
        "TotalCount": resp.TotalCount,
        "HaVipId": h.HaVipId,
        "Vip": h.Vip,
        "NetworkInterfaceId": h.NetworkInterfaceId,
        "InstanceId": h.InstanceId,
        "State": h.State,
        "CheckAssociate": h.CheckAssociate,
        "Associations": [a.InstanceId for a in h.HaVipAssociationSet],
        "RequestId": resp.RequestId,
    }

    req = models.DescribeNetworkInterfacesRequest()
    f = models.Filter()
    f.Name = "vpc-id"
    f.Values = ["vpc-cloudsim"]
    req.Filters = [f]
    req.Limit = 100
    resp = c.DescribeNetworkInterfaces(req)
    out["enis"] = {
        "TotalCount": resp.TotalCount,
        "Macs": {e.NetworkInterfaceId: e.MacAddress for e in resp.NetworkInterfaceSet},
    }

    req = models.MigratePrivateIpAddressRequest()
    req.SourceNetworkInterfaceId = "eni-api00001"
    req.DestinationNetworkInterfaceId = "eni-api00002"
    req.PrivateIpAddress = "192.0.2.20"
    task = c.MigratePrivateIpAddress(req).RequestId
    statuses = []
    deadline = time.time() + 10
    while time.time() < deadline:
        treq = models.DescribeVpcTaskResultRequest()
        treq.TaskId = task
        status = c.DescribeVpcTaskResult(treq).Status
        if not statuses or statuses[-1] != status:
            statuses.append(status)
        if status != "RUNNING":
            break
        time.sleep(0.05)
    out["migration"] = {"TaskId": task, "Statuses": statuses}

    req = models.DescribeNetworkInterfacesRequest()
    req.NetworkInterfaceIds = ["eni-api00002"]
    eni = c.DescribeNetworkInterfaces(req).NetworkInterfaceSet[0]
    out["after"] = [
        {"ip": p.PrivateIpAddress, "primary": p.Primary} for p in eni.PrivateIpAddressSet
    ]

    req = models.MigratePrivateIpAddressRequest()
    req.SourceNetworkInterfaceId = "eni-api00002"
    req.DestinationNetworkInterfaceId = "eni-api00001"
    req.PrivateIpAddress = "192.0.2.22"
    try:
        c.MigratePrivateIpAddress(req)
        out["primary_error"] = None
    except TencentCloudSDKException as e:
        out["primary_error"] = {"code": e.get_code(), "request_id": e.get_request_id()}

    bad = client(endpoint, sid, os.environ["CLOUDSIM_WRONG_SECRET_KEY"])
    try:
        bad.DescribeHaVips(models.DescribeHaVipsRequest())
        out["bad_key_error"] = None
    except TencentCloudSDKException as e:
        out["bad_key_error"] = {"code": e.get_code(), "request_id": e.get_request_id()}

    # Temporary credentials (CVM role, STS): the SDK sends X-TC-Token.
    tmp_id, tmp_key, tmp_token = (
        os.environ["CLOUDSIM_TMP_SECRET_ID"],
        os.environ["CLOUDSIM_TMP_SECRET_KEY"],
        os.environ["CLOUDSIM_TMP_TOKEN"],
    )
    http = HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=10)
    tmp = vpc_client.VpcClient(
        credential.Credential(tmp_id, tmp_key, tmp_token), "ap-guangzhou", ClientProfile(httpProfile=http)
    )
    out["token_ok"] = tmp.DescribeHaVips(models.DescribeHaVipsRequest()).TotalCount
    try:
        client(endpoint, tmp_id, tmp_key).DescribeHaVips(models.DescribeHaVipsRequest())
        out["token_missing_error"] = None
    except TencentCloudSDKException as e:
        out["token_missing_error"] = e.get_code()

    print(json.dumps(out))


if __name__ == "__main__":
    main()
