#!/usr/bin/env bash
# Build bench/java (JavaBench; Apache's benchmark tools from rocketmq-example on the same
# classpath) against a RocketMQ client version, once, and print the runtime classpath.
#
#   bench/java/build.sh [rocketmq-version]      (default 5.5.0)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../../scripts/maven-build" "$here" bench-java "${1:-5.5.0}"
