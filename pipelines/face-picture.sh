#!/bin/bash
# face-picture.sh — the picture people want: the face crop the model sees, scaled up, beside labelled
# bars of the seven emotion probabilities, drawn by gnuplot into a PNG.
set -euo pipefail
me=face-picture
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
# The crop as a matrix of gray levels, top row first, for gnuplot's 'matrix with image'.
vx-topng "$tmp/face.vx" | pnmtoplainpnm | awk 'NR == 2 { w = $1 } NR > 3 { for (i = 1; i <= NF; i++) { printf "%s%s", $i, (++n % w ? " " : "\n") } }' > "$tmp/crop.txt"
# One line per class: index, name, probability.
awk -F'\t' '{ split("anger disgust fear happy neutral sad surprise", name, " ");
              for (k = 3; k <= NF; k++) print k - 3, name[k - 2], $k }' "$tmp/probs.txt" > "$tmp/bars.txt"
best=$(sort -k3 -g -r "$tmp/bars.txt" | head -1)
top=$(awk '{ printf "%s %.0f%%", $2, 100 * $3 }' <<< "$best")
title=$(basename "$image")
gnuplot > "$tmp/out.png" <<GP
set terminal pngcairo size 960,420 font 'Sans,13'
set output
set multiplot
unset key
# Left: the crop, one square per pixel, upright.
set origin 0.0, 0.0
set size 0.42, 1.0
set lmargin 2; set rmargin 2; set tmargin 3; set bmargin 2
set title "$title" noenhanced
unset xtics; unset ytics; unset colorbox
set size ratio -1
set palette gray
set cbrange [0:255]
set xrange [-0.5:47.5]; set yrange [47.5:-0.5]
plot "$tmp/crop.txt" matrix with image
# Right: a labelled horizontal bar per emotion, largest highlighted.
set origin 0.40, 0.0
set size 0.60, 1.0
set size noratio
set lmargin 11; set rmargin 4; set tmargin 3; set bmargin 3
set title "$top"
set xrange [0:1]; set yrange [6.6:-0.6]
set xtics ("0" 0, "25%%" 0.25, "50%%" 0.5, "75%%" 0.75, "100%%" 1)
set ytics ("anger" 0, "disgust" 1, "fear" 2, "happy" 3, "neutral" 4, "sad" 5, "surprise" 6) scale 0
set grid xtics
set style fill solid 0.85 border -1
plot "$tmp/bars.txt" using (\$3/2):1:(\$3/2):(0.35):(\$1 == ${best%% *} ? 0xd9534f : 0x5b8fc7) with boxxyerror lc rgb variable, \
     "" using (\$3 + 0.02):1:(sprintf("%.1f%%", 100 * \$3)) with labels left
unset multiplot
GP
mv "$tmp/out.png" "$out"
echo "$me: $out: $(basename "$image"), $top"
