"""Signs requests with the official Tencent Cloud Python SDK, for
tests/cloud/cloud_signer_sdk.rs.

Reads one JSON object per line on stdin:
  {"secret_id", "secret_key", "token"?, "service", "host", "region",
   "version", "action", "params", "timestamp",
   "date"?, "string_to_sign"?}
and prints one JSON object per line:
  {"payload": the body the SDK sends, "headers": the headers it sets,
   "authorization": its Authorization header,
   "sign_tc3": Sign.sign_tc3(secret_key, date, service, string_to_sign)
               when a string to sign was given}

The request goes through the SDK's own path (CommonClient._build_req_inter
-> _build_req_with_tc3_signature -> _get_tc3_signature -> Sign.sign_tc3)
with time.time pinned to the given timestamp; nothing is sent.
"""

import json
import sys
from unittest import mock

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign


def sign_one(case):
    cred = credential.Credential(case["secret_id"], case["secret_key"], case.get("token"))
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=case["host"], reqMethod="POST"))
    client = CommonClient(case["service"], case["version"], cred, case["region"], profile=profile)
    req = RequestInternal(case["host"], "POST", "/")
    with mock.patch("time.time", return_value=float(case["timestamp"])):
        client._build_req_inter(case["action"], case["params"], req)
    out = {
        "payload": req.data,
        "headers": dict(req.header),
        "authorization": req.header["Authorization"],
    }
    if "string_to_sign" in case:
        out["sign_tc3"] = Sign.sign_tc3(
            case["secret_key"], case["date"], case["service"], case["string_to_sign"]
        )
    return out


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            out = sign_one(json.loads(line))
        except Exception as e:  # one bad case must not hide the others
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
