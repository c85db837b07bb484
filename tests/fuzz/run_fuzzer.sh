#!/bin/sh
# Runs one libFuzzer target for a bounded time: first over the kept regression inputs, then
# exploring into a scratch corpus. A crash leaves its input in the scratch dir to be kept
# under tests/fuzz/corpus/<target>/.
bin=$1; kept=$2; work=$3
seconds=${RINGCAST_FUZZ_SECONDS:-30}
mkdir -p "$work" "$kept"
exec "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work" "$kept"
