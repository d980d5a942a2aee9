#!/usr/bin/env bash
# Creates .venv at the repository root with the official Tencent Cloud Python
# SDK, which the signer equality test (tests/cloud_signer_sdk.rs) runs as its
# reference. Idempotent and quiet: a second run only checks the imports.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VIPDECK_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi

if ! "$venv/bin/python" -c 'import tencentcloud.common.sign, tencentcloud.vpc.v20170312.vpc_client' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        tencentcloud-sdk-python-common tencentcloud-sdk-python-vpc
fi

"$venv/bin/python" -c 'import tencentcloud.common.sign, tencentcloud.vpc.v20170312.vpc_client'
echo "venv ready: $venv ($("$venv/bin/python" -m pip show --disable-pip-version-check tencentcloud-sdk-python-common 2>/dev/null | sed -n 's/^Version: /tencentcloud-sdk-python-common /p'))"
