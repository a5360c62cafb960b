#!/bin/bash
# recommend.t — pipelines/recommend.sh, the main job's script: the bundled face against a small
# index of sox-made songs embedded with the committed music model gives text with the strategy
# and why, an M3U playlist and a PNG; bad input gives a message and no playlist.
. "$(dirname "$0")/lib.sh"
command -v gnuplot > /dev/null && command -v sox > /dev/null || { echo "1..0 # SKIP no gnuplot or sox"; exit 0; }
ignore_libsox_leaks
plan 6
mkdir songs
sox -n -r 22050 -c 1 songs/bright.wav synth 8 triangle 880 2> /dev/null
sox -n -r 22050 -c 1 songs/low.wav synth 8 sine 110 gain -12 2> /dev/null
sox -n -r 22050 -c 1 songs/noise.wav synth 8 whitenoise 2> /dev/null
vx-embed -m "$src/models/music.vxm" -s "$src/models/emotion-space.txt" -o songs.vxi songs 2> /dev/null
ok $? "an index of three songs"
cd "$src" || exit 1
out=$(pipelines/recommend.sh -k 2 --m3u "$tmp/list.m3u" --png "$tmp/pic.png" data/samples/face.png "$tmp/songs.vxi")
ok $? "recommend.sh runs"
cd "$tmp" || exit 1
[[ $out == *"face.png: happy "* ]] && [[ $out == *"strategy: cosine similarity over the seven emotions"* ]] &&
    [ "$(grep -c '      why:' <<< "$out")" = 2 ]
ok $? "it prints the face, the strategy, and two songs with why they matched"
[ "$(head -1 list.m3u)" = "#EXTM3U" ] && [ "$(grep -c '^#EXTINF:8,' list.m3u)" = 2 ] && [ "$(grep -c '^songs/' list.m3u)" = 2 ]
ok $? "an extended M3U of the two songs, 8 s each"
[ "$(pngtopam pic.png | pamfile)" = "stdin:	PPM raw, 1500 by 460  maxval 255" ]
ok $? "a 1500x460 PNG"
pgmmake 0.5 100 100 > flat.pgm
err=$("$src/pipelines/recommend.sh" --m3u none.m3u --png none.png flat.pgm songs.vxi 2>&1 > /dev/null); rc=$?
"$src/pipelines/recommend.sh" one-argument 2> /dev/null; rc2=$?
[ $rc = 1 ] && [[ $err == *"no face found"* ]] && [ ! -e none.m3u ] && [ ! -e none.png ] && [ $rc2 = 2 ]
ok $? "no face: exit 1 and no playlist ('$err'); one argument: exit 2"
done_testing
