#!/bin/bash
# decode-bench.sh — vx-decode against its peers in the same run: mp3 decoding against the sox
# command (samples and time) and the FER-2013 training folder (wall time and peak memory).
# Usage: decode-bench.sh BUILD MUSIC_DIR FER_DIR [FILES]
set -euo pipefail
build=$1 music=$2 fer=$3 nfiles=${4:-20}
decode=$build/bin/vx-decode
[ -d "$music" ] || { echo "bench-decode: no music at $music (MUSIC4Q=...)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
find "$music" -name '*.mp3' | sort | head -n "$nfiles" > "$tmp/files"

# Samples: every file must equal the sox command bit for bit (payload after the record header).
while read -r f; do
    "$decode" "$f" > "$tmp/rec"
    head=$((32 + $(od -An -tu2 -j28 -N2 "$tmp/rec") + $(od -An -tu2 -j30 -N2 "$tmp/rec")))
    sox "$f" -t f32 -r 22050 -c 1 - 2> /dev/null | cmp -s - <(tail -c +$((head + 1)) "$tmp/rec") ||
        { echo "bench-decode: $f differs from sox"; exit 1; }
done < "$tmp/files"
echo "mp3 samples: $(wc -l < "$tmp/files") files identical to sox -t f32 -r 22050 -c 1"

# Time: three alternating rounds, one process per file as a user's loop would run them.
run() { while read -r f; do "$@" "$f" > /dev/null 2>&1; done < "$tmp/files"; }
sox_one() { sox "$1" -t f32 -r 22050 -c 1 -; }
best_sox=999 best_vx=999
for round in 1 2 3; do
    t0=$(date +%s.%N); run sox_one; t1=$(date +%s.%N); run "$decode"; t2=$(date +%s.%N)
    best_sox=$(awk -v a="$t0" -v b="$t1" -v m="$best_sox" 'BEGIN { d = b - a; print (d < m ? d : m) }')
    best_vx=$(awk -v a="$t1" -v b="$t2" -v m="$best_vx" 'BEGIN { d = b - a; print (d < m ? d : m) }')
done
printf 'mp3 decode, best of 3: sox %.3f s, vx-decode %.3f s, time ratio vx/sox %.3f (goal <= 1.10)\n' \
    "$best_sox" "$best_vx" "$(awk -v a="$best_vx" -v b="$best_sox" 'BEGIN { print a / b }')"

if [ -d "$fer/Training" ]; then
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$decode" "$fer/Training" > "$tmp/fer.vxs"
    read -r wall rss < "$tmp/time"
    echo "FER-2013 Training: $("$build/bin/vx-ls" --count "$tmp/fer.vxs" | awk '$1=="total"{print $2}') records in ${wall} s, peak RSS $((rss / 1024)) MiB (goal < 50)"
fi
