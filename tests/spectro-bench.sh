#!/bin/bash
# spectro-bench.sh — `vx-decode | vx-spectro --segment 3 --segment-hop 1.5` against `sox` decoding
# alone, on one core, over the same clips: music4q MP3s when present, else clips made with sox.
# Usage: spectro-bench.sh BUILD MUSIC_DIR [FILES] [ROUNDS]
set -euo pipefail
build=$1 music=$2 nfiles=${3:-20} rounds=${4:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if [ -d "$music" ]; then
    find "$music" -name '*.mp3' | sort | head -n "$nfiles" > "$tmp/files"
    what="$(wc -l < "$tmp/files") music4q MP3s"
else
    for i in $(seq 1 "$nfiles"); do
        sox -n -r 44100 -c 2 "$tmp/clip$i.mp3" synth 30 pinknoise synth 30 sine mix $((200 * i))-$((300 * i + 2000)) vol 0.5 2>/dev/null
        echo "$tmp/clip$i.mp3"
    done > "$tmp/files"
    what="$nfiles sox-made 30 s MP3s (no $music)"
fi
export VXD=$build/bin/vx-decode VXS=$build/bin/vx-spectro
pipeline() { while read -r f; do "$VXD" --rate 22050 "$f" | "$VXS" --segment 3 --segment-hop 1.5 > /dev/null; done < "$tmp/files"; }
sox_alone() { while read -r f; do sox "$f" -t f32 -r 22050 -c 1 - > /dev/null 2>&1; done < "$tmp/files"; }
export -f pipeline sox_alone; export tmp
# Every clip must go through without an error before anything is timed.
taskset -c 0 bash -c pipeline
echo "bench-spectro: $what, one core (taskset -c 0), $rounds rounds alternating"
# Wall time, and CPU time (user + system of every process), which other load on the machine
# disturbs less; the best round of each side gives the headline ratio.
timed() { /usr/bin/time -f '%e %U %S' -o "$tmp/t" taskset -c 0 bash -c "$1"; awk '{ printf "%s %s", $1, $2 + $3 }' "$tmp/t"; }
best="9e9 9e9 9e9 9e9"
for round in $(seq 1 "$rounds"); do
    read -r sw sc < <(timed sox_alone; echo)
    read -r vw vc < <(timed pipeline; echo)
    best=$(echo "$best" | awk -v a="$sw" -v b="$sc" -v c="$vw" -v d="$vc" '{ printf "%s %s %s %s", (a < $1 ? a : $1), (b < $2 ? b : $2), (c < $3 ? c : $3), (d < $4 ? d : $4) }')
    awk -v a="$sw" -v b="$sc" -v c="$vw" -v d="$vc" -v r="$round" 'BEGIN {
        printf "round %d: sox %.3f s (cpu %.3f), vx-decode | vx-spectro %.3f s (cpu %.3f): ratio %.3f wall, %.3f cpu\n", r, a, b, c, d, c / a, d / b }'
done
echo "$best" | awk '{ printf "best of each: ratio %.3f wall, %.3f cpu (goal <= 1.25)\n", $3 / $1, $4 / $2 }'
