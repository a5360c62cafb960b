#!/bin/bash
# nn-bench.sh ARCH... — training and inference samples/s of each architecture on the input its
# `input` line asks for: 1x48x48 nets on FER-2013 images (training at batch 64, augmented, AdamW),
# 1x96x129 nets on log-mel segments of 4Q clips (batch 32 with the music recipe: random 3 s
# windows, gain, masks, per-band standardisation); inference at the same batch and at batch 1;
# then the same nets in PyTorch on the CPU when python3 has torch (Debian python3-torch), same
# batch, threads and input shape (f32), as ratios of the best rates of BENCH_ROUNDS (2) rounds, each
# measuring both sides. Run by `make bench`; the machine is shared, so the load average is printed
# beside the numbers.
set -eu
BUILD=${BUILD:-build}; FER=${FER:-../shared/data/fer2013}; MUSIC=${MUSIC:-../shared/data/music4q}
bin=$(cd "$BUILD/bin" && pwd); here=$(cd "$(dirname "$0")" && pwd)
threads=${BENCH_THREADS:-2}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
records() { "$bin/vx-ls" --count "$1" | awk '$1 == "total" { print $2 }'; }

# The input of each kind, made once: $tmp/KIND.vxs to train on, KIND-one.vxs to infer on at batch
# 1 and KIND-batch.vxs (twice as many) at the net's batch.
images() {
  [ -s "$tmp/images.vxs" ] && return
  "$bin/vx-decode" --limit 200 "$FER/Training" -o "$tmp/images.vxs"      # 1400 images
  ln -s images.vxs "$tmp/images-one.vxs"
  cat "$tmp/images.vxs" "$tmp/images.vxs" > "$tmp/images-batch.vxs"
}
# As pipelines/music.mk makes them: whole clips to draw training windows from, 3 s segments every
# 1.5 s to infer on (52 clips: 988 segments).
spectro() {
  [ -s "$tmp/spectro.vxs" ] && return
  local opts="--n-fft 2048 --hop 512 --mels 96 --fmax 4000"
  "$bin/vx-decode" --rate 22050 --labels Q1,Q2,Q3,Q4 --limit 13 "$MUSIC" -o "$tmp/audio.vxs"
  # shellcheck disable=SC2086 # opts are words
  "$bin/vx-spectro" $opts -o "$tmp/spectro.vxs" "$tmp/audio.vxs"
  # shellcheck disable=SC2086
  "$bin/vx-spectro" $opts --segment 3 --segment-hop 1.5 -o "$tmp/spectro-one.vxs" "$tmp/audio.vxs"
  cat "$tmp/spectro-one.vxs" "$tmp/spectro-one.vxs" > "$tmp/spectro-batch.vxs"
  rm "$tmp/audio.vxs"
}

# Rounds: each net is measured BENCH_ROUNDS times, VibeluX and then PyTorch each time, so a slow
# minute of the shared machine falls on both sides; the best rate of each side is kept (one run of
# each side minutes apart moved the ratio by 15%).
rounds=${BENCH_ROUNDS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}  # the Debian python3-torch, whatever python3 is first on PATH
torch=; "$PYTHON" -c 'import torch' 2> /dev/null && torch=yes
echo "threads $threads, $rounds rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for arch in "$@"; do
  name=$(basename "$arch" .arch)
  read -r _ shape < <(grep -m1 '^input' "$arch")
  case "$shape" in
    "1 48 48") kind=images batch=64 opts= ;;
    # 6 windows of each clip an epoch: 312 segments, enough to time an epoch by
    "1 96 129") kind=spectro batch=32
      opts="--augment=audio --repeat 6 --gain 6 --time-mask 20 --freq-mask 12 --norm bands,segment
            --lr 0.002 --weight-decay 0.01 --label-smoothing 0.1" ;;
    *) echo "nn-bench: $arch: no bench input for 'input $shape'" >&2; exit 1 ;;
  esac
  $kind
  rate() { # samples per second of vx-infer BATCH STREAM
    local n t0 t1; n=$(records "$2"); t0=$(date +%s.%N)
    "$bin/vx-infer" --threads "$threads" --batch "$1" "$tmp/$name.vxm" "$2" > /dev/null
    t1=$(date +%s.%N); awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
  }
  for _ in $(seq "$rounds"); do
    # shellcheck disable=SC2086 # opts are words
    "$bin/vx-train" --arch "$arch" --epochs 2 --batch "$batch" --threads "$threads" $opts --log "$tmp/log.tsv" \
      -o "$tmp/$name.vxm" "$tmp/$kind.vxs" 2> /dev/null
    train=$(awk -F'\t' 'NR == 3 { print $7 }' "$tmp/log.tsv")
    # Our figures include process start and model loading, which PyTorch's leave out: enough
    # samples that those stay a few percent (140 images at batch 1 made them a quarter).
    bn=$(rate "$batch" "$tmp/$kind-batch.vxs"); b1=$(rate 1 "$tmp/$kind-one.vxs")
    printf '%-12s %6s %12s %14s %14s\n' "$name" "$batch" "$train" "$bn" "$b1" >> "$tmp/ours.txt"
    [ -z "$torch" ] || "$PYTHON" "$here/nn-bench.py" "$threads" "$batch" "$arch" >> "$tmp/torch.txt"
  done
done
# The best of the rounds, per net and figure.
best() { awk '{ for (i = 3; i <= 5; i++) if ($i > b[$1, i]) b[$1, i] = $i; n[$1] = $2; if (!($1 in seen)) { seen[$1]; order[++k] = $1 } }
  END { for (j = 1; j <= k; j++) printf "%-12s %6s %12.1f %14.1f %14.1f\n", order[j], n[order[j]], b[order[j], 3], b[order[j], 4], b[order[j], 5] }' "$1"; }
printf '%-12s %6s %12s %14s %14s\n' net batch train infer_batch infer_b1
best "$tmp/ours.txt" | tee "$tmp/ours-best.txt"
if [ -n "$torch" ]; then
  echo "PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)'), same nets, $threads threads, best of $rounds:"
  best "$tmp/torch.txt" | tee "$tmp/torch-best.txt"
  echo "VibeluX / PyTorch (above 1: VibeluX faster), best against best, load average $(cut -d' ' -f1-3 /proc/loadavg):"
  awk 'NR == FNR { t[$1] = $0; next } ($1 in t) { split(t[$1], p)
       printf "%-12s %6s %12.2f %14.2f %14.2f\n", $1, $2, $3 / p[3], $4 / p[4], $5 / p[5] }' \
    "$tmp/torch-best.txt" "$tmp/ours-best.txt"
else
  echo "PyTorch: $PYTHON has no torch (apt-get install python3-torch to compare)"
fi
