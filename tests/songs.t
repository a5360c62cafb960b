#!/bin/bash
# songs.t — vx-index: the text listing, --check, merge (later files win), --remove, --drop-missing,
# and damaged or mismatched indexes refused with exit 1 and no output file.
. "$(dirname "$0")/lib.sh"
plan 14

export VX_SPACE_FILE="$src/models/emotion-space.txt"
gen=${VX_BUILD:-$src/build}/tests/song_index.t
# a: tracks 0..9; b: tracks 0..4 again (other values), so 5 paths are shared.
"$gen" --generate 10 1 a.vxi && "$gen" --generate 5 2 b.vxi || { echo "Bail out! no generator $gen"; exit 1; }

txt=$(vx-index a.vxi)
[ "$(printf '%s\n' "$txt" | wc -l)" = 10 ] && [ "$(printf '%s\n' "$txt" | awk -F'\t' '{print NF}' | sort -u)" = 18 ]
ok $? "--text: 10 lines of 18 fields (path, duration, size, mtime, top class, 4 probs, 7-vector, va)"
printf '%s\n' "$txt" | awk -F'\t' '{ m = 6; for (i = 7; i <= 9; i++) if ($i > $m) m = i; s = $6 + $7 + $8 + $9; if ($5 != "Q" (m - 5) || s < 0.999 || s > 1.001 || $4 !~ /^[0-9]+\.[0-9]+$/ || length($4) - index($4, ".") != 9) bad = 1 } END { exit bad }'
ok $? "the top class is the most probable one, the probabilities sum to 1, mtime has nanoseconds"
printf '%s\n' "$txt" | cut -f1 | sort -c; ok $? "songs are listed in path order"
[ "$(vx-index --check a.vxi b.vxi)" = "$(printf 'a.vxi\t10 songs\nb.vxi\t5 songs')" ]; ok $? "--check counts the songs of each index"

vx-index --merge -o m.vxi a.vxi b.vxi
m=$(vx-index m.vxi)
[ "$(printf '%s\n' "$m" | wc -l)" = 10 ] &&
  [ "$(printf '%s\n' "$m" | head -5)" = "$(vx-index b.vxi)" ] && [ "$(printf '%s\n' "$m" | tail -5)" = "$(printf '%s\n' "$txt" | tail -5)" ]
ok $? "--merge a b: 10 songs, the 5 shared paths from b (the later file)"
vx-index --merge -o m2.vxi b.vxi a.vxi && [ "$(vx-index m2.vxi)" = "$txt" ]; ok $? "--merge b a: a's entries win instead"

printf '%s\n' "$txt" | sed -n '2p;7p' | cut -f1 > gone.txt
vx-index --remove gone.txt -o r.vxi a.vxi && [ "$(vx-index r.vxi)" = "$(printf '%s\n' "$txt" | sed '2d;7d')" ]
ok $? "--remove: the 2 listed paths are gone, the other 8 unchanged"
vx-index --drop-missing -o d.vxi a.vxi && [ "$(vx-index --check d.vxi)" = "$(printf 'd.vxi\t0 songs')" ]
ok $? "--drop-missing: the generated paths do not exist, so no song is left"
mkdir -p music && touch music/x.mp3
vx-index --drop-missing -o d2.vxi a.vxi && out=$(vx-index d2.vxi) && [ -z "$out" ]; ok $? "an empty index lists nothing"

fails() {
  local want=$1 prefix=$2 err rc; shift 2
  rm -rf out; mkdir out
  err=$("$@" 2>&1 >/dev/null); rc=$?
  msg=$err
  [ $rc = "$want" ] && [[ "$err" == "$prefix"* ]] && [ -z "$(ls -A out)" ]
}
head -c 2000 a.vxi > cut.vxi
fails 1 "vx-index: cut.vxi: the index is 2000 bytes" vx-index --merge -o out/m.vxi a.vxi cut.vxi; ok $? "merge with a cut index: $msg"
cp a.vxi nan.vxi; printf '\000\000\300\177' | dd of=nan.vxi bs=1 seek=1344 conv=notrunc 2>/dev/null
fails 1 "vx-index: nan.vxi: song 0: a value is not finite" vx-index --merge -o out/m.vxi a.vxi nan.vxi; ok $? "merge with a NaN inside: $msg"
perl -e 'local $/; open F, "<", "a.vxi"; my $d = <F>; substr($d, 232 + 32 * 3, 2) = "Qx"; print $d' > other.vxi
fails 1 "vx-index: other.vxi: made with the classes Q1,Q2,Q3,Qx, not Q1,Q2,Q3,Q4" vx-index --merge -o out/m.vxi a.vxi other.vxi; ok $? "merge of another class set: $msg"
bad=0
for args in "" "--merge a.vxi" "--text --check a.vxi" "--text -o x a.vxi" "--bogus a.vxi"; do
  vx-index $args >/dev/null 2>&1; [ $? = 2 ] || { echo "# not exit 2: vx-index $args"; bad=1; }
done
[ $bad = 0 ]; ok $? "5 usage errors exit 2"
vx-index --help | grep -q '^Usage: vx-index' && vx-index --version | grep -q '^vx-index (VibeluX) '; ok $? "--help and --version"
done_testing
