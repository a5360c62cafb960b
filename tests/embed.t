#!/bin/bash
# embed.t — vx-embed's plumbing on an untrained model: folders, counts of embedded/kept/dropped,
# incremental re-runs (only a touched file is embedded again), shards merged, and bad songs
# (unreadable, corrupt mp3, silent, 0.1 s) skipped with a warning and exit 1, the rest indexed.
. "$(dirname "$0")/lib.sh"
ignore_libsox_leaks
plan 9

export VX_SPACE_FILE="$src/models/emotion-space.txt"
${VX_BUILD:-$src/build}/tests/song_embed.t --model music.vxm || { echo "Bail out! cannot make a model"; exit 1; }
emb() { vx-embed -m music.vxm -s "$VX_SPACE_FILE" "$@"; }
mkdir -p lib/a lib/b
for i in 1 2 3; do sox -n -r 22050 -c 1 lib/a/s$i.wav synth 4 sine $((200 * i)) vol 0.5 2>/dev/null; done
sox -n -r 22050 -c 1 lib/b/t.flac synth 5 pinknoise vol 0.3 2>/dev/null
echo "not audio" > lib/b/notes.txt

err=$(emb -o x.vxi lib 2>&1); rc=$?
[ $rc = 0 ] && [ "$err" = "vx-embed: 4 embedded, 0 kept, 0 dropped, 0 skipped: 4 songs in x.vxi" ] && [ "$(vx-index x.vxi | wc -l)" = 4 ]
ok $? "a folder: the 4 audio files embedded, notes.txt passed over ($err)"
err=$(emb -o x.vxi lib 2>&1); [ "$err" = "vx-embed: 0 embedded, 4 kept, 0 dropped, 0 skipped: 4 songs in x.vxi" ]; ok $? "run again: all 4 kept"
before=$(vx-index x.vxi | grep -v 's2.wav')
sleep 0.01; touch lib/a/s2.wav
err=$(emb -o x.vxi lib 2>&1); [ "$err" = "vx-embed: 1 embedded, 3 kept, 0 dropped, 0 skipped: 4 songs in x.vxi" ] && [ "$(vx-index x.vxi | grep -v s2.wav)" = "$before" ]
ok $? "touch one file: only it is embedded again, the others unchanged"
rm lib/a/s3.wav
err=$(emb -o x.vxi lib 2>&1); [ "$err" = "vx-embed: 0 embedded, 3 kept, 1 dropped, 0 skipped: 3 songs in x.vxi" ]; ok $? "a vanished song is dropped"
emb -o a.vxi lib/a 2>/dev/null && emb -o b.vxi lib/b 2>/dev/null && vx-index --merge -o ab.vxi a.vxi b.vxi &&
  ab=$(vx-index ab.vxi) && [ "$(printf '%s\n' "$ab" | wc -l)" = 3 ] && [ "$ab" = "$(vx-index x.vxi)" ]
ok $? "two shards merged equal the whole run"
find lib -name '*.wav' | sort | emb -o s.vxi - 2>/dev/null && [ "$(vx-index s.vxi | wc -l)" = 2 ]; ok $? "paths from standard input"

LC_ALL=C awk 'BEGIN { srand(3); for (i = 0; i < 3000; i++) printf "%c", 1 + int(rand() * 255) }' > lib/b/corrupt.mp3
sox -n -r 22050 -c 1 lib/b/silent.wav synth 4 sine 300 vol 0 2>/dev/null
sox -n -r 22050 -c 1 lib/b/short.wav synth 0.1 sine 300 vol 0.5 2>/dev/null
cp lib/a/s1.wav lib/b/locked.wav; chmod 000 lib/b/locked.wav
# root reads a mode-000 file: then it is one more good song instead of one more skipped.
if [ "$(id -u)" = 0 ]; then good=4 bad=3; else good=3 bad=4; fi
err=$(emb -o y.vxi lib 2>&1); rc=$?
[ $rc = 1 ] && [ "$(vx-index y.vxi | wc -l)" = $good ] && printf '%s\n' "$err" | grep -q '^vx-embed: warning: .*corrupt.mp3' &&
  printf '%s\n' "$err" | grep -q '^vx-embed: warning: .*silent.wav: silent' && printf '%s\n' "$err" | grep -q '^vx-embed: warning: .*short.wav: too short' &&
  printf '%s\n' "$err" | tail -1 | grep -q "$bad skipped"
ok $? "corrupt mp3, silent, 0.1 s and (unless root) unreadable files: a warning each, the $good good songs indexed, exit 1"
chmod 644 lib/b/locked.wav
rm -rf out; mkdir out
emb -o out/z.vxi -m nonexistent.vxm lib >/dev/null 2>&1; [ $? = 1 ] && [ -z "$(ls -A out)" ]; ok $? "a missing model: exit 1, no index"
vx-embed -o z.vxi lib >/dev/null 2>&1; [ $? = 2 ] && vx-embed --help | grep -q '^Usage: vx-embed'; ok $? "no model is a usage error; --help"
done_testing
