#!/bin/bash
# nn-face.t — the committed face model must reach 68% on FER-2013 PublicTest. Skipped without the
# data ($VX_SHARED/data) or before the model is committed.
set -u
model="$(cd "$(dirname "$0")/.." && pwd)/models/face.vxm"
split="${VX_SHARED:-}/data/fer2013/PublicTest"
[ -n "${VX_SHARED:-}" ] && [ -d "$split" ] || { echo "1..0 # SKIP no FER-2013 under \$VX_SHARED/data"; exit 0; }
[ -f "$model" ] || { echo "1..0 # SKIP models/face.vxm is not committed yet"; exit 0; }
echo 1..2
out=$(vx-decode "$split" | vx-infer --eval "$model")
acc=$(printf '%s\n' "$out" | tail -1 | awk -F'\t' '$1 == "accuracy" { print $2 }')
n=$(printf '%s\n' "$out" | awk -F'\t' '$1 == "images" { print $2 }')
[ "$n" = 3589 ] && echo "ok 1 - all 3589 PublicTest images classified" || echo "not ok 1 - $n images classified"
if awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.68) }'; then
  echo "ok 2 - PublicTest accuracy $acc >= 0.68"
else
  printf '%s\n' "$out" | sed 's/^/# /'
  echo "not ok 2 - PublicTest accuracy ${acc:-none} below 0.68"
fi
