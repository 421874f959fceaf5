#!/usr/bin/env bash
# Build interop/java (rmq.interop.*) against a RocketMQ version, once, and print the runtime
# classpath. Shared by scripts/java-interop and scripts/java-consume.
#
#   interop/java/build.sh <rocketmq-version>
set -euo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 <rocketmq-version>" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../../scripts/maven-build" "$here" interop "$1"
