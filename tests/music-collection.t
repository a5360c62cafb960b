#!/bin/bash
# music-collection.t — a user's own folder-per-emotion collection, made here with sox (bright fast
# major arpeggios in happy/, slow low minor tones in sad/, noise bursts in angry/), goes through the
# music model's own make rules (pipelines/music.mk with MUSIC4Q= and no split): decoded, cut,
# trained on (and then up to date for make until its recipe changes), and classified per song by
# make eval-music.
. "$(dirname "$0")/lib.sh"
set -o pipefail
command -v sox > /dev/null || { echo "1..0 # SKIP no sox"; exit 0; }
plan 12
ignore_libsox_leaks
coll=$tmp/collection
mkdir -p "$coll/happy" "$coll/sad" "$coll/angry"
# notes OUT SECONDS WAVE GAIN SEMITONE...: the notes one after another (sox joins its inputs).
notes() {
    local out=$1 len=$2 wave=$3 gain=$4 k=0 parts=(); shift 4
    for tone in "$@"; do
        k=$((k + 1)); sox -n -r 22050 -c 1 "$tmp/note$k.wav" synth "$len" "$wave" "%$tone" gain "$gain"
        parts+=("$tmp/note$k.wav")
    done
    sox "${parts[@]}" "$out"
}
for i in 1 2 3 4 5 6; do
    up=$((i % 2 * 12 + i - 3)) arp=()
    for rep in 1 2 3 4 5 6 7 8; do arp+=($up $((up + 4)) $((up + 7)) $((up + 12))); done
    notes "$coll/happy/h$i.wav" 0.12 triangle -3 "${arp[@]}"
    notes "$coll/sad/s$i.wav" 1.35 sine -15 $((-24 - i)) $((-21 - i)) $((-24 - i))
    sox -n -r 22050 -c 1 "$coll/angry/a$i.wav" synth 0.25 whitenoise gain -$i pad 0 0.15 repeat 9
done
ok "$(ls "$coll"/*/*.wav | wc -l | grep -qx 18; echo $?)" "sox made a collection of 18 songs in 3 folders"

cat > tiny.arch <<'ARCH'
input 1 96 129
conv 8 3 same
bn
relu
maxpool 4
conv 16 3 same
bn
relu
gap
softmax 3
ARCH
vars=(BUILD="$VX_BUILD" MUSIC4Q="$coll" MUSIC_SPLIT= MUSIC_CACHE="$tmp/cache" MUSIC_OUT="$tmp/mine.vxm"
      MUSIC_ARCH="$tmp/tiny.arch" MUSIC_EPOCHS=15 MUSIC_THREADS=1)
make -s -C "$src" "${vars[@]}" "$tmp/mine.vxm" > make.txt 2>&1
ok $? "make \$(MUSIC_OUT) MUSIC4Q=collection trains a model ($(tail -c 300 make.txt | tr '\n' ' '))"
grep -a -q 'classes=angry,happy,sad\|classesangry,happy,sad' mine.vxm
ok $? "the model's classes are the collection's folders"
# vx-embed makes the spectrogram the model was trained on from what the model records of it.
spectro=$(strings -n 3 mine.vxm | grep -o 'spectro_[a-z_]*[0-9.]*' | tr '\n' ' ')
ok "$([ "$spectro" = 'spectro_rate22050 spectro_n_fft2048 spectro_hop512 spectro_mels96 spectro_fmin0 spectro_fmax4000 spectro_segment2.99537415 ' ]; echo $?)" \
   "the model records its spectrogram: $spectro"
# What vx-train recorded is what the rule runs: the model is up to date, until the recipe changes.
make -s -q -C "$src" "${vars[@]}" "$tmp/mine.vxm"
ok $? "make -q: the model just trained is up to date"
make -n -C "$src" "${vars[@]}" MUSIC_EPOCHS=16 "$tmp/mine.vxm" > again.txt 2>&1
grep -q -- "vx-train .*--epochs 16 .*-o $tmp/mine.vxm " again.txt; ok $? "MUSIC_EPOCHS=16: it would train again ($(grep -m1 'trained with' again.txt))"
make -s -C "$src" "${vars[@]}" eval-music SPLIT="$coll" > eval.txt 2> err.txt
ok $? "make eval-music SPLIT=collection runs ($(tail -c 200 err.txt))"
last=$(tail -1 eval.txt)
acc=$(awk -F'\t' '$1 == "accuracy" { print $2 }' <<< "$last")
ok "$(awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.99) }'; echo $?)" "every song classified right: last line '$last'"
ok "$(grep -q '^songs	18$' eval.txt; echo $?)" "judged per song: 18 songs from their segments"
# A SPLIT that is no folder, or holds no class folders, is named as such, not read from stdin.
make -s -C "$src" "${vars[@]}" eval-music SPLIT="$tmp/nowhere" > /dev/null 2> err-missing.txt
ok "$([ $? != 0 ] && grep -q "^eval-music: $tmp/nowhere: no such folder" err-missing.txt; echo $?)" \
   "make eval-music SPLIT=a missing folder fails and says so ($(head -1 err-missing.txt))"
mkdir -p "$tmp/flat" && cp "$coll"/happy/*1.wav "$tmp/flat/"
make -s -C "$src" "${vars[@]}" eval-music SPLIT="$tmp/flat" > /dev/null 2> err-flat.txt
ok "$([ $? != 0 ] && grep -q "^eval-music: $tmp/flat: no class folders in it" err-flat.txt; echo $?)" \
   "make eval-music SPLIT=a folder of songs without class folders fails and says so"
# With a split (MUSIC_SPLIT, as models/music/split.tsv: song, folder, part, artist; the clips are
# FOLDER/SONG.mp3), make eval-music on a fresh cache judges the validation part, whose folders the
# split's own rule makes only after make has started.
mp3=$tmp/mp3; : > split.tsv
for f in "$coll"/*/*.wav; do
    d=$(basename "$(dirname "$f")") song=$(basename "$f" .wav); mkdir -p "$mp3/$d"
    sox "$f" "$mp3/$d/$song.mp3"
    case $song in *[12]) part=val ;; *) part=train ;; esac
    printf '%s\t%s\t%s\t%s\n' "$song" "$d" "$part" "artist-$song" >> split.tsv
done
make -s -C "$src" BUILD="$VX_BUILD" MUSIC4Q="$mp3" MUSIC_SPLIT="$tmp/split.tsv" MUSIC_CACHE="$tmp/cache-split" \
    MUSIC_MODEL="$tmp/mine.vxm" eval-music > eval-split.txt 2> err-split.txt
ok "$(grep -q '^songs	6$' eval-split.txt && [ "$(tail -1 eval-split.txt | cut -f1)" = accuracy ]; echo $?)" \
   "make eval-music with a split, fresh cache: the 6 validation songs ($(tail -1 eval-split.txt) $(tail -c 200 err-split.txt))"
done_testing
