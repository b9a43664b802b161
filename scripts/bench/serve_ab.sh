#!/usr/bin/env bash
# Two ftl binaries as servers under the same load, in alternating rounds of one run: a change
# to ftl serve against the binary before it, on the machine's noise of the moment.
#
#   scripts/bench/serve_ab.sh BASELINE_FTL [WORK_DIR] [SECONDS_PER_LOAD] [ROUNDS]
#
# BASELINE_FTL is another build's ftl (e.g. the previous commit's, built in a worktree); the
# other side is this checkout's build/ftl (or $FTL_BUILD_DIR/ftl). WORK_DIR (default
# runs/bench_serve) holds scripts/bench/checkpoint.sh's ResNet-18 checkpoint at 224 px, made
# there if missing. Each round runs both binaries, the baseline first in odd rounds and second
# in even ones, each with the defaults and with --precision bf16 (on a CPU with AVX512-BF16
# or AMX), under wrk at concurrency 1 and 8 (default 10 s each, 3 rounds). Prints every
# round's figures (bench_serve.sh's columns; a baseline from before 2026-12-07 reports no
# decoding, dec_ms 0), then each side's medians and the ratios of this
# build's to the baseline's.
source "$(dirname "$0")/common.sh"
# shellcheck source=scripts/bench/serve_load.sh
source scripts/bench/serve_load.sh
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: scripts/bench/serve_ab.sh BASELINE_FTL [WORK_DIR] [SECONDS] [ROUNDS]" >&2
  exit 2
fi
baseline="$(realpath "$1")"
work="${2:-runs/bench_serve}"
seconds="${3:-10}"
rounds="${4:-3}"
current="$ftl"
threads=2
mkdir -p "$work"
bench_build
checkpoint="$(scripts/bench/checkpoint.sh "$work" "$current" "$python" "$threads" 200)"
write_post_lua "$work" "$(find "$work/val" -name '*.jpg' | sort | head -1)"

precisions=(fp32)
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && precisions+=(bf16)
table="$work/ab.txt"
: >"$table"
row() { printf '%-9s %-5s %5s %7s %7s %7s %7s %7s %7s %8s %7s %7s %7s %5s %5s\n' "$@"; }
row side prec round p50_1 p99_1 rps_1 p50_8 p99_8 rps_8 img/pass ms/pass dec_ms queued busy cpu%
for round in $(seq "$rounds"); do
  sides=(baseline current)
  [ $((round % 2)) = 0 ] && sides=(current baseline)
  for precision in "${precisions[@]}"; do
    for side in "${sides[@]}"; do
      binary="$baseline"
      [ "$side" = current ] && binary="$current"
      figures=$(serve_loads "$binary" --precision "$precision")
      read -r p50_1 p99_1 rps_1 p50_8 p99_8 rps_8 ipp mpp dec queued busy cpu <<<"$figures"
      row "$side" "$precision" "$round" "$p50_1" "$p99_1" "$rps_1" "$p50_8" "$p99_8" "$rps_8" \
        "$ipp" "$mpp" "$dec" "$queued" "$busy" "$cpu" | tee -a "$table"
    done
  done
done
echo "medians of $rounds rounds, and this build / the baseline:"
for precision in "${precisions[@]}"; do
  awk -v p="$precision" '
    function median(list, n,   i, j, t) {
      for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j)
        if (list[j] < list[i]) { t = list[i]; list[i] = list[j]; list[j] = t }
      return n % 2 ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2 }
    $2 == p { k = $1; ++n[k]; p50[k, n[k]] = $4; rps8[k, n[k]] = $9; ipp[k, n[k]] = $10 }
    END {
      for (side in n) {
        for (i = 1; i <= n[side]; ++i) { a[i] = p50[side, i]; b[i] = rps8[side, i]; c[i] = ipp[side, i] }
        m50[side] = median(a, n[side]); m8[side] = median(b, n[side]); mi[side] = median(c, n[side])
        printf "  %-8s %-5s p50 c=1 %6.1f ms  req/s c=8 %6.1f  img/pass %4.1f\n", side, p,
               m50[side], m8[side], mi[side] }
      printf "  %-14s p50 c=1 %.2fx  req/s c=8 %.2fx\n", p ":", m50["current"] / m50["baseline"],
             m8["current"] / m8["baseline"] }' "$table"
done
