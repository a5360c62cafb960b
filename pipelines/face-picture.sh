#!/bin/bash
# face-picture.sh — the picture people want: the face crop the model sees, scaled up, beside labelled
# bars of the seven emotion probabilities, drawn by gnuplot into a PNG.
set -euo pipefail
me=face-picture
. "$(dirname "$0")/face-panels.sh"
usage="Usage: pipelines/face-picture.sh [OPTION]... IMAGE
Find the face in IMAGE (PNG or PNM, or a tensor stream of one image), classify it with the face
model and write a PNG: the 48x48 crop scaled up on the left, the emotion probabilities as labelled
horizontal bars on the right. The vx-* programs and gnuplot are found on PATH.

  -o, --output FILE  the PNG (default face-picture.png)
  -m, --model FILE   face model (default models/face.vxm)
      --detector ARGS  extra vx-facecrop options, e.g. '--opencv'
  -h, --help         show this help and exit
      --version      show the version and exit"

out=face-picture.png model=models/face.vxm detector=() args=()
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) echo "$usage"; exit 0 ;;
    --version) echo "face-picture.sh (VibeluX) $(vx-infer --version | awk '{ print $NF }')"; exit 0 ;;
    -o|--output) out=${2:?}; shift ;;
    -m|--model) model=${2:?}; shift ;;
    --detector) read -r -a detector <<< "${2:?}"; shift ;;
    --) shift; args+=("$@"); break ;;
    -?*) echo "$me: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) args+=("$1") ;;
    esac
    shift
done
[ ${#args[@]} = 1 ] || { echo "$me: give one IMAGE (see --help)" >&2; exit 2; }
image=${args[0]}
for p in vx-facecrop vx-infer vx-topng gnuplot pnmtoplainpnm; do
    command -v $p >/dev/null || { echo "$me: $p is not on PATH" >&2; exit 1; }
done
[ -r "$model" ] || { echo "$me: no face model at $model (make models/face.vxm, or give --model FILE)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vx-facecrop "${detector[@]}" -o "$tmp/face.vx" "$image" || exit 1
vx-infer --text "$model" "$tmp/face.vx" > "$tmp/probs.txt"
best=$(face_data "$tmp/face.vx" "$tmp/probs.txt" "$tmp")
top=$(awk -v b="$best" '$1 == b { printf "%s %.0f%%", $2, 100 * $3 }' "$tmp/bars.txt")
title=$(basename "$image")
{
    echo "set terminal pngcairo size 960,420 font 'Sans,13'"
    echo "set output"
    echo "set multiplot"
    echo "unset key"
    face_panels "$tmp" "$title" "$top" "$best" 0.0 0.42 0.40 0.60
    echo "unset multiplot"
} | gnuplot > "$tmp/out.png"
mv "$tmp/out.png" "$out"
echo "$me: $out: $(basename "$image"), $top"
