#!/usr/bin/env bash
# ftl serve against the Flask + gunicorn server a Python user would write, in one run, on the
# same ResNet-18 checkpoint (224 px), the same JPEG and the same 2 compute threads:
#
#   scripts/bench_serve.sh [WORK_DIR] [SECONDS_PER_LOAD]      (default runs/bench_serve, 15 s)
#
# wrk POSTs one 500x375 JPEG per request at concurrency 1 and 8, to ftl serve with its
# defaults and again with --batch-wait delay. Prints p50/p99 latency and requests/s of each
# server, ftl serve's in-process forward time of one image (the floor: its frozen network) and
# that of the network as loaded, ftl evaluate's images/s on the same kind of images, and the
# ratios the targets are stated in.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-runs/bench_serve}"
seconds="${2:-15}"
build="${FTL_BUILD_DIR:-build}"
python="$(scripts/torch_python.sh)"
ftl="$build/ftl"
threads=2
mkdir -p "$work"
cmake --build "$build" -j "$(nproc)" --target ftl ftl_bench_serve_floor >/dev/null

# A ResNet-18 checkpoint at 224 px: one epoch with a frozen backbone on 40 JPEGs.
checkpoint="$(scripts/bench_checkpoint.sh "$work" "$ftl" "$python" "$threads" 200)"
image="$(find "$work/val" -name '*.jpg' | sort | head -1)"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local file = io.open("$image", "rb")
wrk.body = file:read("*a")
file:close()
LUA

# wrk's latency distribution and requests/s: "p50_ms p99_ms rps".
measure() {
  local url="$1" connections="$2" wrk_threads=1
  [ "$connections" -gt 1 ] && wrk_threads=2
  wrk -t"$wrk_threads" -c"$connections" -d"${seconds}s" --latency -s "$work/post.lua" "$url" \
    >"$work/wrk.txt"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    $1 == "Requests/sec:" { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { if (bad != "") { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
          printf "%.1f %.1f %.1f\n", p50, p99, rps }' "$work/wrk.txt"
}

wait_ready() {
  for _ in $(seq 300); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "bench_serve: $1 never answered" >&2
  return 1
}

# A command substitution, so that a failing floor bench stops the script (set -e).
floor_out=$("$build/tests/ftl_bench_serve_floor" --checkpoint "$checkpoint" --threads $threads)
value_of() { awk -v key="$1" '$1 == key { print $2 }' <<<"$floor_out"; }
floor=$(value_of forward_ms_p50)
loaded_floor=$(value_of loaded_forward_ms_p50)
difference=$(value_of max_probability_difference)
batch8=$(value_of batch8_forward_ms_p50)
[ -n "$floor" ] && [ -n "$loaded_floor" ] && [ -n "$difference" ] && [ -n "$batch8" ] ||
  { echo "bench_serve: unexpected floor bench output: $floor_out" >&2; exit 1; }

"$ftl" -q serve --checkpoint "$checkpoint" --port 18081 --threads $threads &
ftl_pid=$!
trap 'kill $ftl_pid $flask_pid 2>/dev/null || true' EXIT
flask_pid=""
wait_ready http://127.0.0.1:18081/healthz
read -r ftl_p50_1 ftl_p99_1 ftl_rps_1 < <(measure http://127.0.0.1:18081/v1/predict 1)
read -r ftl_p50_8 ftl_p99_8 ftl_rps_8 < <(measure http://127.0.0.1:18081/v1/predict 8)
kill -TERM $ftl_pid
wait $ftl_pid || true
# Each pass short of --max-batch waits the whole --max-delay-ms (5 ms), whatever is arriving.
"$ftl" -q serve --checkpoint "$checkpoint" --port 18081 --threads $threads --batch-wait delay &
ftl_pid=$!
wait_ready http://127.0.0.1:18081/healthz
read -r ftl0_p50_1 ftl0_p99_1 ftl0_rps_1 < <(measure http://127.0.0.1:18081/v1/predict 1)
read -r ftl0_p50_8 ftl0_p99_8 ftl0_rps_8 < <(measure http://127.0.0.1:18081/v1/predict 8)
kill -TERM $ftl_pid
wait $ftl_pid || true

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

start=$(date +%s.%N)
"$ftl" -q evaluate --checkpoint "$checkpoint" --data "$work/val" --threads $threads >/dev/null
end=$(date +%s.%N)
eval_ips=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", 200 / (e - s) }')

echo "bench_serve: ResNet-18 at 224 px, one 500x375 JPEG per request, $threads compute threads,"
echo "wrk ${seconds} s per load, $(nproc) cores; BLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
printf '%-28s %10s %10s %10s\n' server p50_ms p99_ms req/s
printf '%-28s %10s %10s %10s\n' "ftl serve, c=1" "$ftl_p50_1" "$ftl_p99_1" "$ftl_rps_1"
printf '%-28s %10s %10s %10s\n' "flask+gunicorn, c=1" "$py_p50_1" "$py_p99_1" "$py_rps_1"
printf '%-28s %10s %10s %10s\n' "ftl serve, c=8" "$ftl_p50_8" "$ftl_p99_8" "$ftl_rps_8"
printf '%-28s %10s %10s %10s\n' "flask+gunicorn, c=8" "$py_p50_8" "$py_p99_8" "$py_rps_8"
printf '%-28s %10s %10s %10s\n' "ftl serve wait delay, c=1" "$ftl0_p50_1" "$ftl0_p99_1" "$ftl0_rps_1"
printf '%-28s %10s %10s %10s\n' "ftl serve wait delay, c=8" "$ftl0_p50_8" "$ftl0_p99_8" "$ftl0_rps_8"
echo "floor: one image's forward pass in process: $floor ms (frozen, as ftl serve runs it;" \
  "$loaded_floor ms as loaded, as ftl predict runs it; probabilities apart by $difference at most)"
echo "one frozen pass of 8 images: $batch8 ms"
echo "ftl evaluate (wall time, process start included): $eval_ips images/s"
awk -v f="$floor" -v a="$ftl_p50_1" -v b="$py_p50_1" -v r="$ftl_rps_8" -v q="$py_rps_8" \
    -v e="$eval_ips" -v a0="$ftl0_p50_1" -v r0="$ftl0_rps_8" 'BEGIN {
  printf "p50 c=1 / floor:          %.2f  (target <= 1.3)\n", a / f
  printf "p50 c=1 / flask p50 c=1:  %.2f  (target <= 0.8)\n", a / b
  printf "req/s c=8 / flask c=8:    %.2f  (target >= 1.5)\n", r / q
  printf "req/s c=8 / evaluate:     %.2f  (target >= 0.9)\n", r / e
  printf "with --batch-wait delay: p50 c=1 / floor %.2f, / flask %.2f; req/s c=8 / flask %.2f\n",
         a0 / f, a0 / b, r0 / q }'
