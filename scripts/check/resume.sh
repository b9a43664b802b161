#!/usr/bin/env bash
# Checks exact resume on your own data: runs a config once without a stop, then again while
# killing it with SIGKILL at random moments and resuming it until it finishes, and compares
# the two runs' last.pt and best.pt byte for byte, their metrics (without the wall-clock
# columns) and summary.json.
#
#   scripts/check/resume.sh CONFIG OUTDIR [MIN_S MAX_S]
#
# CONFIG must set train.deterministic: true (checkpoint_every_steps makes kills land mid-epoch
# more often). OUTDIR gets reference/ and interrupted/ run folders; output.dir is overridden.
# Each kill comes after a random MIN_S..MAX_S seconds (default 3..10). Exit 0 when identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
config="$1"
out="$2"
min_s="${3:-3}"
max_s="${4:-10}"
ftl="${FTL_BUILD_DIR:-build}/ftl"
[ -x "$ftl" ] || { echo "no $ftl: run scripts/build.sh first" >&2; exit 2; }
mkdir -p "$out"
reference="$out/reference"
interrupted="$out/interrupted"
rm -rf "$reference" "$interrupted"

echo "uninterrupted run -> $reference"
"$ftl" finetune --config "$config" --set output.dir="$reference" >/dev/null 2>"$out/reference.log"

kills=0
# --resume auto continues the run, or starts it over when a kill came before its first save.
args=(--config "$config" --set output.dir="$interrupted" --resume auto)
while :; do
  "$ftl" finetune "${args[@]}" >/dev/null 2>>"$out/interrupted.log" &
  pid=$!
  delay_ms=$(( min_s * 1000 + RANDOM % ((max_s - min_s) * 1000 + 1) ))
  waited=0
  while [ "$waited" -lt "$delay_ms" ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.05
    waited=$((waited + 50))
  done
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    echo "killed after ${waited} ms (kill $kills)"
  else
    status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { echo "the run failed with exit $status; see $out/interrupted.log" >&2; exit 1; }
    break
  fi
done
echo "finished after $kills kills"

same=0
compare() {
  if cmp -s "$1" "$2"; then echo "identical: $3"; else echo "DIFFERENT: $3"; same=1; fi
}
# A checkpoint's entries but TorchScript's .debug_pkl source ranges, which for some families
# (ViT's attention code) record the file the code was last loaded from.
compare_checkpoint() {
  if cmp -s "$1" "$2"; then echo "identical: $3"; return; fi
  if python3 - "$1" "$2" <<'PY'
import sys, zipfile
a, b = (zipfile.ZipFile(path) for path in sys.argv[1:3])
names = [n for n in a.namelist() if not n.endswith(".debug_pkl")]
other = [n for n in b.namelist() if not n.endswith(".debug_pkl")]
sys.exit(0 if names == other and all(a.read(n) == b.read(n) for n in names) else 1)
PY
  then
    echo "identical but TorchScript's debug source ranges: $3"
  else
    echo "DIFFERENT: $3"; same=1
  fi
}
compare_checkpoint "$reference/checkpoints/last.pt" "$interrupted/checkpoints/last.pt" "checkpoints/last.pt"
compare_checkpoint "$reference/checkpoints/best.pt" "$interrupted/checkpoints/best.pt" "checkpoints/best.pt"
# Summaries name their folder: compare them with it taken out.
compare <(sed "s#$reference#RUN#g" "$reference/summary.json") \
        <(sed "s#$interrupted#RUN#g" "$interrupted/summary.json") "summary.json"
# Columns 8 and 9 are seconds and images_per_s.
compare <(cut -d, -f1-7,10 "$reference/metrics.csv") <(cut -d, -f1-7,10 "$interrupted/metrics.csv") \
        "metrics.csv without seconds and images_per_s"
exit "$same"
