#!/bin/bash
# nn-face.t — on FER-2013 PublicTest, the committed face model must reach 68% and the committed
# prototype reproduction must land near the prototype's 54.5% (50-60%). Skipped without the data
# ($VX_SHARED/data); each model is checked only once it is committed.
. "$(dirname "$0")/lib.sh"
models="$src/models"
split="${VX_SHARED:-}/data/fer2013/PublicTest"
[ -n "${VX_SHARED:-}" ] && [ -d "$split" ] || { echo "1..0 # SKIP no $split: the data sets live in ../shared (make check SHARED=dir)"; exit 0; }
checks=()
[ -f "$models/face.vxm" ] && checks+=("face.vxm 0.68 1.00")
[ -f "$models/face-prototype.vxm" ] && checks+=("face-prototype.vxm 0.50 0.60")
[ ${#checks[@]} -gt 0 ] || { echo "1..0 # SKIP neither models/face.vxm nor models/face-prototype.vxm is committed yet"; exit 0; }
echo "1..$((2 * ${#checks[@]}))"
vx-decode "$split" -o fer.vxs
t=0
for check in "${checks[@]}"; do
  read -r model lo hi <<< "$check"
  out=$(vx-infer --eval "$models/$model" fer.vxs)
  acc=$(printf '%s\n' "$out" | tail -1 | awk -F'\t' '$1 == "accuracy" { print $2 }')
  n=$(printf '%s\n' "$out" | awk -F'\t' '$1 == "images" { print $2 }')
  t=$((t + 1))
  [ "$n" = 3589 ] && echo "ok $t - $model: all 3589 PublicTest images classified" \
                  || echo "not ok $t - $model: ${n:-no} images classified"
  t=$((t + 1))
  if awk -v a="${acc:-0}" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(a >= lo && a <= hi) }'; then
    echo "ok $t - $model: PublicTest accuracy $acc in [$lo, $hi]"
  else
    printf '%s\n' "$out" | sed 's/^/# /'
    echo "not ok $t - $model: PublicTest accuracy ${acc:-none} outside [$lo, $hi]"
  fi
done
