# The load functions of scripts/bench/serve.sh and scripts/bench/serve_ab.sh, sourced by both.
# They read these variables of the sourcing script: work (a folder to write in), seconds (per
# load), and for serve_loads checkpoint and threads.

# wrk's request: POST one image file as image/jpeg.
write_post_lua() {
  cat >"$1/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local file = io.open("$2", "rb")
wrk.body = file:read("*a")
file:close()
LUA
}

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
  echo "$(basename "$0"): $1 never answered" >&2
  return 1
}

# /metrics' running sums: "images passes pass_seconds queued_seconds queued_images
# decode_seconds".
pass_sums() {
  curl -sf "$1/metrics" | awk '
    $1 == "ftl_batch_size_sum" { i = $2 } $1 == "ftl_batch_size_count" { n = $2 }
    $1 == "ftl_pass_duration_seconds_sum" { p = $2 }
    $1 == "ftl_queue_wait_seconds_sum" { q = $2 } $1 == "ftl_queue_wait_seconds_count" { c = $2 }
    $1 == "ftl_decode_duration_seconds_sum" { d = $2 }
    END { print i + 0, n + 0, p + 0, q + 0, c + 0, d + 0 }'
}
# What /metrics says of the passes between two pass_sums: "images/pass ms/pass decode_ms
# queued_ms pass_busy" (decode_ms: each pass's decoding of its images, before the network;
# pass_busy: the share of the load's seconds that the pass thread spent decoding and in passes).
pass_means() {
  awk -v a="$1" -v b="$2" -v s="$seconds" 'BEGIN { split(a, x, " "); split(b, y, " ")
    n = y[2] - x[2]; c = y[5] - x[5]; if (n == 0 || c == 0) { print "- - - - -"; exit }
    printf "%.1f %.1f %.1f %.1f %.2f\n", (y[1] - x[1]) / n, 1000 * (y[3] - x[3]) / n,
           1000 * (y[6] - x[6]) / n, 1000 * (y[4] - x[4]) / c,
           (y[3] - x[3] + y[6] - x[6]) / s }'
}

# The CPU time a process has used, in clock ticks (user + system, /proc/PID/stat).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One ftl serve (the binary, then its flags) under concurrency 1 and 8: "p50_1 p99_1 rps_1
# p50_8 p99_8 rps_8 images/pass ms/pass decode_ms queued_ms pass_busy cpu%" (the last six at
# c=8; cpu% is the server's, 200 = both cores throughout). Run it as $(...): the server is
# stopped with the subshell.
serve_loads() {
  local binary="$1" url=http://127.0.0.1:18081 one eight before after ticks cpu
  shift
  # Its output goes to stderr: stdout is this function's answer.
  "$binary" -q serve --checkpoint "$checkpoint" --port 18081 --threads $threads "$@" >&2 &
  ftl_pid=$!
  trap 'kill $ftl_pid 2>/dev/null || true' EXIT  # this $(...)'s own subshell
  wait_ready $url/healthz
  one=$(measure $url/v1/predict 1)
  before=$(pass_sums $url)
  ticks=$(cpu_ticks $ftl_pid)
  eight=$(measure $url/v1/predict 8)
  cpu=$(awk -v a="$ticks" -v b="$(cpu_ticks $ftl_pid)" -v hz="$(getconf CLK_TCK)" \
    -v s="$seconds" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / s }')
  after=$(pass_sums $url)
  kill -TERM $ftl_pid
  wait $ftl_pid || true
  echo "$one $eight $(pass_means "$before" "$after") $cpu"
}
