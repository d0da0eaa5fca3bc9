#!/bin/bash
# EMR bootstrap action, run on every node before Spark starts.
#   bootstrap.sh            make sure Python 3.11 is there: the packed environment's bin/python links to
#                           /usr/bin/python3.11 (cxrpipe emr package --python-prefix /usr)
#   bootstrap.sh s3://.../cxrpipe-VERSION-py3-none-any.whl
#                           also install that wheel and its dependencies into Python 3.11: the
#                           alternative to shipping the packed environment with --archives
set -euo pipefail

# EMR 7.x runs Amazon Linux 2023, whose python3 is 3.9; cxrpipe's environment is built for 3.11.
command -v python3.11 >/dev/null 2>&1 || sudo dnf install -y -q python3.11

if [ $# -ge 1 ]; then
    python3.11 -m pip --version >/dev/null 2>&1 || sudo dnf install -y -q python3.11-pip
    wheel="/tmp/$(basename "$1")"
    aws s3 cp --only-show-errors "$1" "$wheel"
    sudo python3.11 -m pip install --no-cache-dir "${wheel}[aws]"
fi
