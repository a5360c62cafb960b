#!/bin/bash
# nn-music.t — the committed music model on the validation part of its artist-disjoint split of
# 4Q (models/music/split.tsv): every validation song judged, and the per-song accuracy the model
# was committed with, give or take a point. Skipped without the data ($VX_SHARED/data/music4q).
. "$(dirname "$0")/lib.sh"
music="${VX_SHARED:-}/data/music4q"
[ -n "${VX_SHARED:-}" ] && [ -d "$music/Q1" ] || { echo "1..0 # SKIP no $music: the data sets live in ../shared (make check SHARED=dir)"; exit 0; }
[ -f "$src/models/music.vxm" ] || { echo "1..0 # SKIP models/music.vxm is not committed yet"; exit 0; }
ignore_libsox_leaks
plan 3
awk -F'\t' '!/^#/ && $3 == "val" { print $2, $1 }' "$src/models/music/split.tsv" | while read -r quad song; do
    mkdir -p "val/$quad"; ln -s "$music/$quad/$song.mp3" "val/$quad/$song.mp3"; done
# The band the model was trained on, from what it records of its spectrogram (vx-model(5)).
fmax=$(strings -n 3 "$src/models/music.vxm" | sed -n 's/^spectro_fmax\([0-9.]*\)$/\1/p')
vx-decode --rate 22050 --labels Q1,Q2,Q3,Q4 val | vx-spectro ${fmax:+--fmax "$fmax"} --segment 3 --segment-hop 1.5 > val.vxs
ok $? "the validation songs decoded and cut into 3 s segments"
vx-infer --eval "$src/models/music.vxm" val.vxs > eval.txt
songs=$(awk -F'\t' '$1 == "songs" { print $2 }' eval.txt)
[ "$songs" = 142 ]; ok $? "all 142 validation songs judged from their segments (${songs:-none})"
acc=$(tail -1 eval.txt | awk -F'\t' '$1 == "accuracy" { print $2 }')
want=$(awk -F'\t' '$1 == "song_val_acc" { print $2 }' "$src/models/music/figures.tsv")
awk -v a="${acc:-0}" -v w="${want:-1}" 'BEGIN { exit !(a >= w - 0.01 && a <= w + 0.01) }'
ok $? "per-song accuracy $acc, as committed ($want)"
done_testing
