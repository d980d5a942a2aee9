#!/usr/bin/env bash
# Creates .venv at the repository root with the official Tencent Cloud Python
# SDK, the reference the signer (tests/cloud/cloud_signer_sdk.rs) and the emulator
# are checked against. Idempotent and quiet: when the pinned versions are
# already there it only says so.
#
#   VIPDECK_VENV   where the virtualenv lives (default: .venv)
#   PYTHON         the interpreter that creates it (default: python3)
#   SDK_VERSIONS   "common vpc" versions to pin instead of the tested ones
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VIPDECK_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
# The versions the tests were last run against.
read -r common_v vpc_v <<<"${SDK_VERSIONS:-3.1.195 3.1.193}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi

have() {
    "$venv/bin/python" - "$common_v" "$vpc_v" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import tencentcloud.common.sign, tencentcloud.vpc.v20170312.vpc_client  # noqa: F401
ok = (version("tencentcloud-sdk-python-common") == sys.argv[1]
      and version("tencentcloud-sdk-python-vpc") == sys.argv[2])
sys.exit(0 if ok else 1)
PY
}

if ! have; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "tencentcloud-sdk-python-common==$common_v" "tencentcloud-sdk-python-vpc==$vpc_v"
    have || { echo "setup-venv: the SDK does not import after installing" >&2; exit 1; }
fi
echo "venv ready: $venv (tencentcloud-sdk-python-common $common_v, -vpc $vpc_v)"
