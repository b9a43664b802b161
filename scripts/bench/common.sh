# What the benchmark scripts share. Each one starts with
#   source "$(dirname "$0")/common.sh"
# which stops on any error (a failure inside $(...) too), moves to the repository root and sets
#   build   the build folder ($FTL_BUILD_DIR, default build)
#   ftl     its executable
#   python  a Python that imports torch and torchvision (scripts/lib/torch_python.sh)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
build="${FTL_BUILD_DIR:-build}"
ftl="$build/ftl"
python="$(scripts/lib/torch_python.sh)"

# bench_build [TARGET...]: configures the build folder when it has not been, then brings the
# targets (default: ftl) up to date, so that a figure never comes from a stale binary.
bench_build() {
  [ -f "$build/CMakeCache.txt" ] || scripts/build.sh >/dev/null
  local targets=("$@")
  [ ${#targets[@]} -gt 0 ] || targets=(ftl)
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null
}

# bench_machine: one line naming the cores, the BLAS and the date, printed under each table.
bench_machine() {
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));" \
    "BLAS $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3); $(date -u +%Y-%m-%d)"
}

# demo_seed_runs DEMO WORK NAME CONFIG [FTL_ARGS...]: the demo's target task fine-tuned from its
# pretrained network with CONFIG, once per seed in $seeds (default 0 1 2), into
# WORK/NAME/seed<N>; each best.pt evaluated on the target test images without and with
# --tta flip (eval_none.json, eval_flip.json). A finished seed (its .done) is not run again.
# Runs scripts/demo.sh first when DEMO has no pretrained network.
demo_seed_runs() {
  local demo="$1" work="$2" name="$3" config="$4"
  shift 4
  [ -f "$demo/pretrain/checkpoints/best.pt" ] || scripts/demo.sh "$demo" >/dev/null
  local seed
  for seed in ${seeds:-0 1 2}; do
    local dir="$work/$name/seed$seed"
    [ -f "$dir/.done" ] && continue
    rm -rf "$dir"
    "$ftl" -q finetune --config "$config" \
      --set model.path="$demo/pretrain/checkpoints/best.pt" \
      --set data.train="$demo/data/target_train" --set data.val="$demo/data/target_val" \
      --set output.dir="$dir" --set train.seed="$seed" --set train.threads=2 "$@" >/dev/null
    local tta
    for tta in none flip; do
      "$ftl" -q evaluate --checkpoint "$dir/checkpoints/best.pt" \
        --data "$demo/data/target_test" --threads 2 --tta "$tta" \
        --output "$dir/eval_$tta.json" >/dev/null
    done
    touch "$dir/.done"
  done
}
