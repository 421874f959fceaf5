#!/usr/bin/env bash
# Build bench/java (JavaBench) against a RocketMQ client version, once, and print the runtime
# classpath (classes dir first) on stdout. Same cached-build approach as interop/java/build.sh.
#
#   bench/java/build.sh [rocketmq-version]      (default 5.3.3)
#
# Builds on first use (and again whenever bench/java is newer than the last build) into
#   ${RMQ_CACHE:-$HOME/.cache/rmq}/bench-java-<version>/{target/classes,classpath.txt,.stamp}
# Needs JDK >= 11 (17 tested) and Maven; dependencies come from Maven Central via ~/.m2.
set -euo pipefail

version=${1:-5.3.3}
project_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_dir=${RMQ_CACHE:-$HOME/.cache/rmq}/bench-java-$version
build_dir=$cache_dir/target
classpath_file=$cache_dir/classpath.txt
stamp=$cache_dir/.stamp

mkdir -p "$cache_dir"

needs_build() {
    [[ -f $stamp && -f $classpath_file && -d $build_dir/classes ]] || return 0
    [[ -n $(find "$project_dir/pom.xml" "$project_dir/src" "${BASH_SOURCE[0]}" -newer "$stamp" -print -quit) ]]
}

build() {
    rm -f "$stamp"
    if ! mvn -q -B -Dstyle.color=never -f "$project_dir/pom.xml" \
        -Drocketmq.version="$version" \
        -Drmq.build.dir="$build_dir" \
        -Dmdep.outputFile="$classpath_file" \
        -Dmdep.includeScope=runtime \
        compile dependency:build-classpath >"$cache_dir/build.log" 2>&1; then
        cat "$cache_dir/build.log" >&2
        echo "bench/java: maven build failed for rocketmq $version (log: $cache_dir/build.log)" >&2
        exit 1
    fi
    touch "$stamp"
}

if needs_build; then
    exec 9>"$cache_dir/.lock"
    flock 9
    if needs_build; then build; fi
    flock -u 9
    exec 9>&-
fi

echo "$build_dir/classes:$(cat "$classpath_file")"
