#!/usr/bin/env bash
# Build interop/java (rmq.interop.*) against a given RocketMQ version, once, and print the
# runtime classpath (classes dir first) on stdout. Shared by scripts/java-interop and
# scripts/java-consume.
#
#   interop/java/build.sh <rocketmq-version>
#
# Builds on first use (and again whenever interop/java is newer than the last build) into
#   ${RMQ_CACHE:-$HOME/.cache/rmq}/interop-<version>/{target/classes,classpath.txt,.stamp}
# Needs JDK >= 8 (17 tested) and Maven; dependencies come from Maven Central via ~/.m2.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 <rocketmq-version>" >&2
    exit 2
fi
version=$1

project_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_dir=${RMQ_CACHE:-$HOME/.cache/rmq}/interop-$version
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
    # build.directory is redirected into the cache so the source tree stays clean.
    # Output goes to a log (Maven 3.8's -q still emits stray ANSI resets) and is shown only on failure.
    if ! mvn -q -B -Dstyle.color=never -f "$project_dir/pom.xml" \
        -Drocketmq.version="$version" \
        -Drmq.build.dir="$build_dir" \
        -Dmdep.outputFile="$classpath_file" \
        -Dmdep.includeScope=runtime \
        compile dependency:build-classpath >"$cache_dir/build.log" 2>&1; then
        cat "$cache_dir/build.log" >&2
        echo "interop/java: maven build failed for rocketmq $version (log: $cache_dir/build.log)" >&2
        exit 1
    fi
    touch "$stamp"
}

if needs_build; then
    # Serialize concurrent builds of the same version.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$cache_dir/.lock"
        flock 9
        if needs_build; then build; fi
        flock -u 9
        exec 9>&-
    else
        build
    fi
fi

echo "$build_dir/classes:$(cat "$classpath_file")"
