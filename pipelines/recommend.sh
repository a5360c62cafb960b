#!/bin/bash
# recommend.sh — the main job: a face photo to a playlist of real songs whose emotion fits it. The
# face is found and read (vx-facecrop, vx-infer), matched against a song index (vx-match), and the
# result is printed, written as an M3U playlist and drawn as a PNG: the crop, its emotion bars, and
# the chosen songs' emotion vectors beside the face's.
set -euo pipefail
me=recommend
. "$(dirname "$0")/face-panels.sh"
usage="Usage: pipelines/recommend.sh [OPTION]... IMAGE INDEX
Recommend songs of INDEX (vx-embed) for the face in IMAGE (PNG or PNM; JPEG through jpegtopnm).
The vx-* programs and gnuplot are found on PATH.

  -k N               songs (5)
  -m, --model FILE   face model (default models/face.vxm)
  -s, --space SPACE  emotions (cosine over the seven emotions, the default) or va
      --lift STEP    cheer up instead of mirroring (vx-match --lift)
      --m3u FILE     the playlist (default recommend.m3u)
      --png FILE     the picture (default recommend.png)
  -h, --help         show this help and exit
      --version      show the version and exit"

k=5 model=models/face.vxm space=emotions lift=0 m3u=recommend.m3u png=recommend.png args=()
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) echo "$usage"; exit 0 ;;
    --version) echo "recommend.sh (VibeluX) $(vx-match --version | awk '{ print $NF }')"; exit 0 ;;
    -k) k=${2:?}; shift ;;
    -m|--model) model=${2:?}; shift ;;
    -s|--space) space=${2:?}; shift ;;
    --lift) lift=${2:?}; shift ;;
    --m3u) m3u=${2:?}; shift ;;
    --png) png=${2:?}; shift ;;
    -?*) echo "$me: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) args+=("$1") ;;
    esac
    shift
done
[ ${#args[@]} = 2 ] || { echo "$me: give IMAGE and INDEX (see --help)" >&2; exit 2; }
image=${args[0]} index=${args[1]}
for p in vx-facecrop vx-infer vx-match vx-topng gnuplot pnmtoplainpnm; do
    command -v $p > /dev/null || { echo "$me: $p is not on PATH" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# JPEG goes through netpbm, as everywhere in VibeluX.
if [ "$(head -c 2 "$image" | od -An -tx1 | tr -d ' ')" = ffd8 ]; then
    jpegtopnm "$image" > "$tmp/photo.pnm" 2> /dev/null || { echo "$me: $image: not a readable JPEG" >&2; exit 1; }
    vx-facecrop -o "$tmp/face.vx" "$tmp/photo.pnm" || exit 1
else
    vx-facecrop -o "$tmp/face.vx" "$image" || exit 1
fi
vx-infer -o "$tmp/probs.vx" "$model" "$tmp/face.vx"
vx-infer --text "$model" "$tmp/face.vx" | head -1 > "$tmp/probs.txt"
match=(vx-match -k "$k" --space "$space" --lift "$lift" "$index")
"${match[@]}" --explain "$tmp/probs.vx" > "$tmp/explain.txt"
"${match[@]}" --text "$tmp/probs.vx" | awk -F'\t' '$2 <= '"$k" > "$tmp/songs.txt"
"${match[@]}" --m3u -o "$m3u" "$tmp/probs.vx"

names=(anger disgust fear happy neutral sad surprise)
read -r -a face < <(cut -f3- "$tmp/probs.txt")
best=0
for i in 1 2 3 4 5 6; do awk -v a="${face[$i]}" -v b="${face[$best]}" 'BEGIN { exit !(a > b) }' && best=$i; done
top="${names[$best]} $(awk -v p="${face[$best]}" 'BEGIN { printf "%.0f%%", 100 * p }')"

# What a person reads: the face, the rule, then each song with its score and why it matched.
strategy="cosine similarity over the seven emotions"
[ "$space" = va ] && strategy="closeness on the valence-arousal plane (Warriner et al. 2013 norms)"
[ "$lift" != 0 ] && strategy="$strategy, lifted $lift toward positive valence"
echo "$(basename "$image"): $top"
printf '  face  '; for i in 0 1 2 3 4 5 6; do printf ' %s %.2f' "${names[$i]}" "${face[$i]}"; done; echo
echo "strategy: $strategy"
awk -F'\t' '
    /^# query/ { next }
    /^#/ { split($3, q, " "); split($4, s, " "); split($5, c, " ");
           gsub(/ +$/, "", $2); share[$2] = c[2]; next }
    { if (path != "") report(); rank = $2; score = $3; path = $4; vec = "";
      for (i = 5; i <= NF; i++) vec = vec sprintf(" %.2f", $i); delete share }
    function report(   why, best, name, n) {
        n = split(path, part, "/"); printf "%2d. %.3f  %s\n", rank, score, part[n - 1] "/" part[n];
        printf "      song %s\n", vec;
        why = ""; for (name in share) if (share[name] + 0 > 0.01) why = why sprintf(" %s %+.3f", name, share[name]);
        printf "      why:%s\n", why == "" ? " (no dimension above 0.01)" : why
    }
    END { if (path != "") report() }' "$tmp/explain.txt"
echo "playlist: $m3u ($(grep -c '^#EXTINF' "$m3u") songs; play it with: play $m3u, mpv --playlist=$m3u)"

# The picture: crop | face bars | a table of the face's and each song's emotion vector.
face_data "$tmp/face.vx" "$tmp/probs.txt" "$tmp" > /dev/null
{
    echo "0 ${face[*]}"
    awk -F'\t' '{ printf "%d", NR; for (i = 5; i <= NF; i++) printf " %s", $i; print "" }' "$tmp/songs.txt"
} | awk '{ for (c = 2; c <= NF; c++) print $1, c - 2, $c; print "" }' > "$tmp/table.txt"
rows=$(($(wc -l < "$tmp/songs.txt") + 1))
ylabels=$(awk -F'\t' 'BEGIN { printf "\"face\" 0" }
    { n = split($4, part, "/"); t = part[n]; sub(/\.[^.]*$/, "", t); printf ", \"%d. %s (%.2f)\" %d", NR, t, $3, NR }' "$tmp/songs.txt")
[ "$space" = va ] && cols='"valence" 0, "arousal" 1' || cols='"anger" 0, "disgust" 1, "fear" 2, "happy" 3, "neutral" 4, "sad" 5, "surprise" 6'
ncols=$([ "$space" = va ] && echo 2 || echo 7)
{
    cat <<GP
set terminal pngcairo size 1500,460 font 'Sans,12'
set output
set multiplot
unset key
GP
    face_panels "$tmp" "$(basename "$image")" "face: $top" "$best" 0.0 0.25 0.22 0.30
    cat <<GP
set origin 0.52, 0.0
set size 0.48, 1.0
set lmargin 30; set rmargin 6; set tmargin 3; set bmargin 6
set title "songs chosen by $space (score)" noenhanced
unset grid
set xrange [-0.5:$ncols - 0.5]; set yrange [$rows - 0.5:-0.5]
set xtics ($cols) rotate by 30 right scale 0
set ytics ($ylabels) scale 0 noenhanced
set palette defined (0 "white", 1 "#5b8fc7")
set cbrange [0:*]
plot "$tmp/table.txt" using 2:1:3 with image, \
     "" using 2:1:(sprintf("%.2f", \$3)) with labels
unset multiplot
GP
} | gnuplot > "$tmp/out.png"
mv "$tmp/out.png" "$png"
echo "picture: $png"
