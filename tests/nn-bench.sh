#!/bin/bash
# nn-bench.sh ARCH... — training and inference images/s of each architecture on 48x48 FER-2013
# images: training at batch 64 (augmented, AdamW), inference at batch 64 and batch 1; then the
# same nets in PyTorch on the CPU when python3 has torch (Debian python3-torch), as ratios.
# Run by `make bench`; the machine is shared, so the load average is printed beside the numbers.
set -eu
BUILD=${BUILD:-build}; FER=${FER:-../shared/data/fer2013}
bin=$(cd "$BUILD/bin" && pwd); here=$(cd "$(dirname "$0")" && pwd)
threads=${BENCH_THREADS:-2}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$bin/vx-decode" --limit 200 "$FER/Training" -o "$tmp/set.vxs"      # 1400 images
echo "threads $threads, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %12s %14s %14s\n' net train_b64 infer_b64 infer_b1
for arch in "$@"; do
  name=$(basename "$arch" .arch)
  "$bin/vx-train" --arch "$arch" --epochs 2 --batch 64 --threads "$threads" --log "$tmp/log.tsv" \
    -o "$tmp/$name.vxm" "$tmp/set.vxs" 2> /dev/null
  train=$(awk -F'\t' 'NR == 3 { print $7 }' "$tmp/log.tsv")
  rate() { # images per second of vx-infer BATCH STREAM N
    local t0 t1; t0=$(date +%s.%N)
    "$bin/vx-infer" --threads "$threads" --batch "$1" "$tmp/$name.vxm" "$2" > /dev/null
    t1=$(date +%s.%N); awk -v n="$3" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
  }
  cat "$tmp/set.vxs" "$tmp/set.vxs" > "$tmp/twice.vxs"
  # Our figures include process start and model loading, which PyTorch's leave out: enough
  # images that those stay a few percent (140 images at batch 1 made them a quarter).
  b64=$(rate 64 "$tmp/twice.vxs" 2800); b1=$(rate 1 "$tmp/set.vxs" 1400)
  printf '%-12s %12s %14s %14s\n' "$name" "$train" "$b64" "$b1" | tee -a "$tmp/ours.txt"
done
PYTHON=${PYTHON:-/usr/bin/python3}  # the Debian python3-torch, whatever python3 is first on PATH
if "$PYTHON" -c 'import torch' 2> /dev/null; then
  echo "PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)'), same nets, $threads threads:"
  "$PYTHON" "$here/nn-bench.py" "$threads" "$@" | tee "$tmp/torch.txt"
  echo "VibeluX / PyTorch (above 1: VibeluX faster):"
  awk 'NR == FNR { t[$1] = $0; next } ($1 in t) { split(t[$1], p)
       printf "%-12s %12.2f %14.2f %14.2f\n", $1, $2 / p[2], $3 / p[3], $4 / p[4] }' "$tmp/torch.txt" "$tmp/ours.txt"
else
  echo "PyTorch: $PYTHON has no torch (apt-get install python3-torch to compare)"
fi
