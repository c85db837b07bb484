#!/bin/sh
# Runs the ctest suite of a sanitizer or fuzz build tree, so its result is counted by the main suite.
#   asan: unit + mp tests under AddressSanitizer/UBSan
#   tsan: shm ring tests under ThreadSanitizer
#   fuzz: each libFuzzer target for a bounded time
kind=$1; dir=$2
if [ ! -f "$dir/CTestTestfile.cmake" ]; then
  echo "skip: $dir is not built (make test builds it)"; exit 77
fi
case $kind in
  asan) exec ctest --test-dir "$dir" --output-on-failure -j2 -L 'unit|mp' ;;
  tsan) exec ctest --test-dir "$dir" --output-on-failure -R 'shm|ring' ;;
  fuzz) exec ctest --test-dir "$dir" --output-on-failure -j2 -L fuzz ;;
esac
echo "unknown sub-suite $kind"; exit 2
