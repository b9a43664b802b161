#!/usr/bin/env bash
# Coverage-guided fuzzing of ftl's parsers of outside input with libFuzzer, AddressSanitizer
# and UndefinedBehaviorSanitizer (clang):
#
#   scripts/check/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s; all targets)
#
# Targets: config, image, metadata, csv, serve (tests/fuzz/*_fuzz.cpp). Each starts from its seed
# corpus in tests/fuzz/corpus/<target>/ and grows a working corpus in build-fuzz/corpus/;
# crashing inputs land in build-fuzz/crashes/<target>/. Two targets run at a time. At the end
# it prints each target's executions and crashes. A crash found is fixed, then its input is
# added to the seed corpus, which CI replays (ctest -R fuzz_replay).
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config image metadata csv serve)
build="${FTL_FUZZ_BUILD_DIR:-build-fuzz}"

CC=clang CXX=clang++ cmake -S . -B "$build" -DFTL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >/dev/null || exit 1
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/%/_fuzz}" || exit 1

run_target() {
  local target="$1"
  mkdir -p "$build/corpus/$target" "$build/crashes/$target"
  # The input's size bound: images need room, text parsers less.
  local max_len=4096
  [ "$target" = image ] && max_len=65536
  "$build/tests/fuzz/${target}_fuzz" "$build/corpus/$target" "tests/fuzz/corpus/$target" \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$build/crashes/$target/" -print_final_stats=1 \
    >"$build/$target.log" 2>&1
}

pids=()
for target in "${targets[@]}"; do
  run_target "$target" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$(nproc)" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
wait

status=0
printf '%-10s %14s %8s %8s\n' target executions crashes corpus
for target in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$target.log" | grep -o '[0-9]*$')
  crashes=$(find "$build/crashes/$target" -type f | wc -l)
  corpus=$(find "$build/corpus/$target" -type f | wc -l)
  printf '%-10s %14s %8s %8s\n' "$target" "${runs:-?}" "$crashes" "$corpus"
  [ "$crashes" -eq 0 ] || status=1
done
exit $status
