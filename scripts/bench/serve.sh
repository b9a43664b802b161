#!/usr/bin/env bash
# ftl serve against the Flask + gunicorn server a Python user would write, in one run, on the
# same ResNet-18 checkpoint (224 px), the same JPEG and the same 2 compute threads, with ONNX
# Runtime on the same network as the yardstick of the forward pass:
#
#   scripts/bench/serve.sh [WORK_DIR] [SECONDS_PER_LOAD]      (default runs/bench_serve, 15 s)
#
# wrk POSTs one 500x375 JPEG per request at concurrency 1 and 8, to ftl serve with its
# defaults, again with --batch-wait delay, and in bf16 (--precision bf16, on a CPU with
# AVX512-BF16 or AMX). Prints:
# - p50/p99 latency and requests/s of each server;
# - under the load of 8, what /metrics says of the passes (mean images per pass, milliseconds
#   per pass, milliseconds of decoding per pass, milliseconds each image waited for its pass,
#   the pass thread's busy share) and
#   the server's CPU;
# - the forward time in process of one image and of a pass of 8 (the floor and the ceiling):
#   ftl's frozen network in fp32 and bf16, the network as loaded, and ONNX Runtime
#   (onnxruntime-node, CPU, 2 intra-op threads, all graph optimisations) on the same network
#   written by `ftl export --format onnx`;
# - ftl evaluate's images/s on the same kind of images, and the ratios the targets are stated in.
# Environment variables reach every server: OMP_WAIT_POLICY=PASSIVE scripts/bench/serve.sh ...
# measures ftl serve with OpenMP threads that sleep rather than spin while they wait.
source "$(dirname "$0")/common.sh"
# shellcheck source=scripts/bench/serve_load.sh
source scripts/bench/serve_load.sh
work="${1:-runs/bench_serve}"
seconds="${2:-15}"
threads=2
mkdir -p "$work"
bench_build ftl ftl_bench_serve_floor

# A ResNet-18 checkpoint at 224 px: one epoch with a frozen backbone on 40 JPEGs.
checkpoint="$(scripts/bench/checkpoint.sh "$work" "$ftl" "$python" "$threads" 200)"
image="$(find "$work/val" -name '*.jpg' | sort | head -1)"
write_post_lua "$work" "$image"

# The floor bench's figures for one precision:
# "one_ms pass8_ms loaded_one_ms loaded_pass8_ms difference".
# A command substitution, so that a failing floor bench stops the script (set -e).
floor_of() {
  local out
  out=$("$build/tests/ftl_bench_serve_floor" --checkpoint "$checkpoint" --threads $threads \
    --precision "$1")
  awk '{ v[$1] = $2 } END {
    if (v["forward_ms_p50"] == "" || v["batch8_forward_ms_p50"] == "") exit 1
    print v["forward_ms_p50"], v["batch8_forward_ms_p50"], v["loaded_forward_ms_p50"],
          v["loaded_batch8_forward_ms_p50"], v["max_probability_difference"] }' <<<"$out" ||
    { echo "bench_serve: unexpected floor bench output: $out" >&2; return 1; }
}
figures=$(floor_of fp32)  # an assignment, so that a failure stops the script (set -e)
read -r floor batch8 loaded_floor loaded_batch8 difference <<<"$figures"
bf16=0
grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo && bf16=1
if [ $bf16 = 1 ]; then
  figures=$(floor_of bf16)
  read -r bf16_floor bf16_batch8 _ _ bf16_difference <<<"$figures"
fi

# ONNX Runtime on the same network, exported by ftl (checked against the checkpoint there).
"$ftl" -q export --checkpoint "$checkpoint" --output "$work/net.onnx" --overwrite \
  --threads $threads >/dev/null
onnx_out=$("$python" scripts/bench/onnx_runtime.py --onnx "$work/net.onnx" --work "$work" --side 224 \
  --threads $threads)
onnx_1=$(awk '$1 == "onnx_ms_batch1" { print $2 }' <<<"$onnx_out")
onnx_8=$(awk '$1 == "onnx_ms_per_image_batch8" { print $2 }' <<<"$onnx_out")

flask_pid=""
trap 'kill $flask_pid 2>/dev/null || true' EXIT
figures=$(serve_loads "$ftl")
read -r ftl_p50_1 ftl_p99_1 ftl_rps_1 ftl_p50_8 ftl_p99_8 ftl_rps_8 ftl_ipp ftl_mpp ftl_dec \
  ftl_q ftl_busy ftl_cpu <<<"$figures"
# Each pass short of --max-batch waits the whole --max-delay-ms (5 ms), whatever is arriving.
figures=$(serve_loads "$ftl" --batch-wait delay)
read -r ftl0_p50_1 ftl0_p99_1 ftl0_rps_1 ftl0_p50_8 ftl0_p99_8 ftl0_rps_8 ftl0_ipp ftl0_mpp \
  ftl0_dec ftl0_q ftl0_busy ftl0_cpu <<<"$figures"
if [ $bf16 = 1 ]; then
  figures=$(serve_loads "$ftl" --precision bf16)
  read -r b_p50_1 b_p99_1 b_rps_1 b_p50_8 b_p99_8 b_rps_8 b_ipp b_mpp b_dec b_q b_busy b_cpu \
    <<<"$figures"
fi

# gunicorn from Debian runs /usr/bin/python3, where Debian's torch imports.
FTL_CHECKPOINT="$checkpoint" FTL_THREADS=$threads PYTHONPATH=scripts \
  gunicorn -w 1 --threads 8 -b 127.0.0.1:18082 --log-level warning bench_serve_flask:app &
flask_pid=$!
sleep 1
for _ in $(seq 300); do
  curl -sf -H 'Content-Type: image/jpeg' --data-binary @"$image" \
    http://127.0.0.1:18082/v1/predict >/dev/null 2>&1 && break
  sleep 0.2
done
read -r py_p50_1 py_p99_1 py_rps_1 < <(measure http://127.0.0.1:18082/v1/predict 1)
read -r py_p50_8 py_p99_8 py_rps_8 < <(measure http://127.0.0.1:18082/v1/predict 8)
kill -TERM $flask_pid
wait $flask_pid 2>/dev/null || true

# ftl evaluate's images/s (wall time, process start included) at a precision.
evaluate_ips() {
  local start end
  start=$(date +%s.%N)
  "$ftl" -q evaluate --checkpoint "$checkpoint" --data "$work/val" --threads $threads \
    --precision "$1" >/dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", 200 / (e - s) }'
}
eval_ips=$(evaluate_ips fp32)
[ $bf16 = 1 ] && eval_bf16_ips=$(evaluate_ips bf16)

row() { printf '%-30s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n' "$@"; }
echo "bench_serve: ResNet-18 at 224 px, one 500x375 JPEG per request, $threads compute threads,"
echo "wrk ${seconds} s per load, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo |
  cut -d: -f2 | sed 's/^ //'); BLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
row server p50_ms p99_ms req/s img/pass ms/pass decode_ms queued_ms pass_busy cpu%
row "ftl serve, c=1" "$ftl_p50_1" "$ftl_p99_1" "$ftl_rps_1"
row "flask+gunicorn, c=1" "$py_p50_1" "$py_p99_1" "$py_rps_1"
row "ftl serve, c=8" "$ftl_p50_8" "$ftl_p99_8" "$ftl_rps_8" "$ftl_ipp" "$ftl_mpp" "$ftl_dec" \
  "$ftl_q" "$ftl_busy" "$ftl_cpu"
row "flask+gunicorn, c=8" "$py_p50_8" "$py_p99_8" "$py_rps_8"
row "ftl serve wait delay, c=1" "$ftl0_p50_1" "$ftl0_p99_1" "$ftl0_rps_1"
row "ftl serve wait delay, c=8" "$ftl0_p50_8" "$ftl0_p99_8" "$ftl0_rps_8" "$ftl0_ipp" "$ftl0_mpp" \
  "$ftl0_dec" "$ftl0_q" "$ftl0_busy" "$ftl0_cpu"
if [ $bf16 = 1 ]; then
  row "ftl serve bf16, c=1" "$b_p50_1" "$b_p99_1" "$b_rps_1"
  row "ftl serve bf16, c=8" "$b_p50_8" "$b_p99_8" "$b_rps_8" "$b_ipp" "$b_mpp" "$b_dec" "$b_q" \
    "$b_busy" "$b_cpu"
fi
echo "forward pass in process (ms): one image, and per image in a pass of 8"
pass_row() { printf '  %-46s %7.1f %7.1f\n' "$1" "$2" "$(awk -v v="$3" 'BEGIN { print v / 8 }')"; }
pass_row "loaded, fp32 (ftl predict on a few images)" "$loaded_floor" "$loaded_batch8"
pass_row "frozen, fp32 (ftl serve, evaluate, predict)" "$floor" "$batch8"
[ $bf16 = 1 ] && pass_row "frozen, bf16 (--precision bf16)" "$bf16_floor" "$bf16_batch8"
pass_row "ONNX Runtime, fp32 (ftl export --format onnx)" "$onnx_1" "$(awk -v v="$onnx_8" \
  'BEGIN { print v * 8 }')"
echo "probabilities against the loaded network: frozen fp32 $difference, bf16 ${bf16_difference:--}"
echo "ftl evaluate (wall time, process start included): $eval_ips images/s fp32," \
  "${eval_bf16_ips:--} bf16"
awk -v f="$floor" -v a="$ftl_p50_1" -v b="$py_p50_1" -v r="$ftl_rps_8" -v q="$py_rps_8" \
    -v e="$eval_ips" -v a0="$ftl0_p50_1" -v r0="$ftl0_rps_8" -v o1="$onnx_1" -v o8="$onnx_8" \
    -v b8="$batch8" 'BEGIN {
  printf "p50 c=1 / floor:                    %.2f  (target <= 1.3)\n", a / f
  printf "p50 c=1 / flask p50 c=1:            %.2f  (target <= 0.8)\n", a / b
  printf "req/s c=8 / flask c=8:              %.2f  (target >= 1.5)\n", r / q
  printf "req/s c=8 / evaluate:               %.2f  (target >= 0.9)\n", r / e
  printf "req/s c=8 / its pass of 8 ceiling:  %.2f  (%.1f images/s)\n", r / (8000 / b8),
         8000 / b8
  printf "frozen fp32 / ONNX Runtime:         %.2f at batch 1, %.2f at batch 8  (target <= 1.1)\n",
         f / o1, b8 / 8 / o8
  printf "with --batch-wait delay: p50 c=1 / floor %.2f, / flask %.2f; req/s c=8 / flask %.2f\n",
         a0 / f, a0 / b, r0 / q }'
if [ $bf16 = 1 ]; then
  awk -v a="$b_p50_1" -v b="$py_p50_1" -v r="$b_rps_8" -v q="$py_rps_8" -v b8="$bf16_batch8" \
      -v f="$bf16_floor" -v o1="$onnx_1" -v o8="$onnx_8" 'BEGIN {
    printf "bf16: p50 c=1 / flask p50 c=1:      %.2f  (target <= 0.5)\n", a / b
    printf "bf16: req/s c=8 / flask c=8:        %.2f  (target >= 1.5)\n", r / q
    printf "bf16: req/s c=8 / pass of 8 ceiling: %.2f (target >= 0.85; ceiling %.1f images/s)\n",
           r / (8000 / b8), 8000 / b8
    printf "bf16 frozen / ONNX Runtime fp32:    %.2f at batch 1, %.2f at batch 8\n", f / o1,
           b8 / 8 / o8 }'
else
  echo "bf16: this CPU has neither AVX512-BF16 nor AMX, so ftl refuses it here; no bf16 rows"
fi
