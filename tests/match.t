#!/bin/bash
# match.t — vx-match on generated indexes: every option (exclusion, diversity, explain, lift, M3U,
# paths, the va space, query streams) checked against what it must produce, and every bad input.
. "$(dirname "$0")/lib.sh"
plan 35

export VX_SPACE_FILE="$src/models/emotion-space.txt"
gen=${VX_BUILD:-$src/build}/tests/song_index.t
"$gen" --generate 2000 1 songs.vxi && "$gen" --queries 3 5 faces.vxt || { echo "Bail out! no generator $gen"; exit 1; }

# A raw f32 record: key, then the values (perl packs the 32-byte header of vx-stream(5)).
record() { perl -e 'my $k = shift; print "VXTS", pack("vvCCvV4vv", 1, 32, 2, 1, 0xffff, scalar(@ARGV), 0, 0, 0, length($k), 0), $k, pack("f<*", @ARGV)' "$@"; }

out=$(vx-match -k 3 --emotion happy songs.vxi)
[ "$(printf '%s\n' "$out" | wc -l)" = 3 ] && [ "$(printf '%s\n' "$out" | cut -f1,2 | tr '\n' ' ')" = "happy	1 happy	2 happy	3 " ] &&
  [ "$(printf '%s\n' "$out" | head -1 | awk -F'\t' '{print NF}')" = 11 ]
ok $? "--emotion happy -k 3: 3 lines of key, rank, score, path and the 7-vector"
printf '%s\n' "$out" | cut -f3 | sort -rn -c 2>/dev/null; ok $? "scores come best first"
top=$(printf '%s\n' "$out" | head -1)
printf '%s\n' "$top" | awk -F'\t' '{ h = $8; m = 0; for (i = 5; i <= 11; i++) if ($i > m) m = $i; exit !(h == m && $3 > 0.96) }'
ok $? "the best song for happy is mostly happy and scores near Q1's 0.970 (happy .8, surprise .2): $(printf '%s' "$top" | cut -f3)"
[ "$(vx-match -k 3 --vector 0,0,0,1,0,0,0 songs.vxi | cut -f2-)" = "$(printf '%s\n' "$out" | cut -f2-)" ]
ok $? "--vector 0,0,0,1,0,0,0 gives what --emotion happy gives"
[ "$(vx-match -k 3 --vector 0,0,0,5,0,0,0 songs.vxi | cut -f2-)" = "$(printf '%s\n' "$out" | cut -f2-)" ]
ok $? "cosine ignores the query's scale"

# Exclusion: the top two excluded, the third becomes the first.
printf '%s\n' "$out" | head -2 | cut -f4 > heard.txt
echo /not/in/the/index.mp3 >> heard.txt
ex=$(vx-match -k 3 -e happy -x heard.txt songs.vxi)
[ "$(printf '%s\n' "$ex" | head -1 | cut -f3-)" = "$(printf '%s\n' "$out" | sed -n 3p | cut -f3-)" ] && ! grep -qFf heard.txt <<< "$ex"
ok $? "--exclude: listed songs never appear, the third best is now first"

# Diversity.
plain=$(vx-match -k 10 -e sad songs.vxi); div=$(vx-match -k 10 -e sad -d 0.8 songs.vxi)
[ "$(printf '%s\n' "$plain" | head -1)" = "$(printf '%s\n' "$div" | head -1)" ] && [ "$plain" != "$div" ] && [ "$(printf '%s\n' "$div" | wc -l)" = 10 ]
ok $? "--diversity 0.8: the same best song, then a different list of 10"
spread() { cut -f5-11 | awk '{ for (i = 1; i <= NF; i++) { s[i] += $i; q[i] += $i * $i } } END { for (i = 1; i <= NF; i++) t += q[i] / NR - (s[i] / NR) ^ 2; printf "%.6f", t }'; }
p=$(printf '%s\n' "$plain" | spread); d=$(printf '%s\n' "$div" | spread)
awk -v p="$p" -v d="$d" 'BEGIN { exit !(d > 2 * p) }'; ok $? "diverse songs spread wider in the space (variance $p -> $d)"
[ "$(vx-match -k 10 -e sad -d 0 songs.vxi)" = "$plain" ]; ok $? "--diversity 0 is pure similarity"

# --explain: the contributions add up to the score.
exp=$(vx-match -k 2 -e fear --explain songs.vxi)
[ "$(printf '%s\n' "$exp" | head -1)" = "# query fear target (anger..surprise): 0.0000 0.0000 1.0000 0.0000 0.0000 0.0000 0.0000" ]
ok $? "--explain starts with the query's target"
printf '%s\n' "$exp" | awk -F'\t' '/^#\t/ { sub(/contribution /, "", $5); s += $5; next } /^#/ { next } { if (NR > 1) { if (s - sc > 2e-4 || sc - s > 2e-4) bad = 1 } sc = $3; s = 0; n++ } END { if (s - sc > 2e-4 || sc - s > 2e-4) bad = 1; exit bad || n != 2 }'
ok $? "--explain: each result's 7 contributions add up to its score"
[ "$(printf '%s\n' "$exp" | grep -c '^#	')" = 14 ] && printf '%s\n' "$exp" | grep -q '^#	fear    	query 1.0000	song '
ok $? "--explain: one line per emotion per result, with query and song values"

# Lift.
[ "$(vx-match -k 5 -e sad -l 1 songs.vxi | cut -f2-)" = "$(vx-match -k 5 -e happy songs.vxi | cut -f2-)" ]
ok $? "--lift 1 in the emotion space turns a sad face into a happy one"
half=$(vx-match -k 1 -e sad -l 0.5 --explain songs.vxi | head -1)
[ "$half" = "# query sad target (anger..surprise): 0.0000 0.0000 0.0000 0.5000 0.0000 0.5000 0.0000" ]; ok $? "--lift 0.5 moves half of sad to happy"
[ "$(vx-match -k 1 -e neutral -l 0.5 --explain songs.vxi | head -1)" = "# query neutral target (anger..surprise): 0.0000 0.0000 0.0000 0.0000 1.0000 0.0000 0.0000" ]
ok $? "--lift leaves a neutral face alone (its valence is above the middle)"
[ "$(vx-match -s va -k 1 -e sad -l 2 --explain songs.vxi | head -1)" = "# query sad target (valence arousal): 4.1000 3.4900" ]
ok $? "--space va --lift 2 adds 2 to sad's valence 2.10"
[ "$(vx-match -s va -k 1 -e happy -l 8 --explain songs.vxi | head -1)" = "# query happy target (valence arousal): 9.0000 6.0500" ]
ok $? "--space va: a lifted valence stays at most 9"

# The va space: score = 1 - distance / (8 sqrt 2) from happy's point 8.47/6.05.
va=$(vx-match -s va -k 5 -e happy songs.vxi)
printf '%s\n' "$va" | awk -F'\t' '{ d = sqrt(($5 - 8.47) ^ 2 + ($6 - 6.05) ^ 2); if (NF != 6 || (1 - d / 11.3137085) - $3 > 1e-4 || $3 - (1 - d / 11.3137085) > 1e-4) bad = 1 } END { exit bad }'
ok $? "--space va: lines end in valence and arousal, score = 1 - distance/11.3137"
[ "$(printf '%s\n' "$va" | cut -f4)" != "$(vx-match -k 5 -e happy songs.vxi | cut -f4)" ]; ok $? "the two spaces rank differently"

# Output forms.
m3u=$(vx-match -k 3 -e happy --m3u songs.vxi)
[ "$(printf '%s\n' "$m3u" | head -1)" = "#EXTM3U" ] && [ "$(printf '%s\n' "$m3u" | wc -l)" = 7 ] &&
  printf '%s\n' "$m3u" | sed -n '2p;4p;6p' | grep -Eq '^#EXTINF:[0-9]+,track[0-9]{7}$' &&
  [ "$(printf '%s\n' "$m3u" | sed -n '3p;5p;7p')" = "$(printf '%s\n' "$out" | cut -f4)" ]
ok $? "--m3u: #EXTM3U, then #EXTINF:seconds,title and the path of each song"
[ "$(vx-match -k 3 -e happy --paths songs.vxi)" = "$(printf '%s\n' "$out" | cut -f4)" ]; ok $? "--paths: the paths alone, in rank order"

# Query streams: each record its own results under its key; the index is loaded once.
st=$(vx-match -k 2 songs.vxi faces.vxt)
[ "$(printf '%s\n' "$st" | cut -f1,2 | tr '\n' ' ')" = "face00000.png	1 face00000.png	2 face00001.png	1 face00001.png	2 face00002.png	1 face00002.png	2 " ]
ok $? "a stream of 3 faces: 2 results each, keyed by the face"
[ "$(vx-match -k 2 songs.vxi < faces.vxt)" = "$st" ]; ok $? "the stream from standard input"
record "tab	key" 0 0 0 1 0 0 0 | vx-match -k 1 songs.vxi | grep -q '^tab\\tkey	1	'; ok $? "a key with a tab is escaped as ls -b does"

# Bad input: exit 1, one message, no output file left behind.
fails() {
  local want=$1 prefix=$2 err rc; shift 2
  rm -rf out; mkdir out
  err=$("$@" -o out/r.txt 2>&1 >/dev/null); rc=$?
  msg=$err
  [ $rc = "$want" ] && [[ "$err" == "$prefix"* ]] && [ -z "$(ls -A out)" ]
}
record q4 0.2 0.3 0.5 0 > four.vxt
cat faces.vxt four.vxt > mixed.vxt
fails 1 "vx-match: mixed.vxt: record 4 'q4': a query is an f32 record of the 7" vx-match songs.vxi mixed.vxt; ok $? "a query of 4 values after 3 good ones: $msg"
record qn 0 0 0 nan 0 0 0 > nan.vxt
fails 1 "vx-match: nan.vxt: query 'qn': the query's happy value is not a number" vx-match songs.vxi nan.vxt; ok $? "NaN in a query record: $msg"
fails 1 "vx-match: --vector: 'nan' is not a finite number" vx-match --vector 0,0,0,nan,0,0,0 songs.vxi; ok $? "NaN in --vector: $msg"
fails 1 "vx-match: --vector: fewer than 7 values" vx-match --vector 0,0,1 songs.vxi; ok $? "--vector of 3 values: $msg"
fails 1 "vx-match: command line: query 'vector': the query is all zeros" vx-match --vector 0,0,0,0,0,0,0 songs.vxi; ok $? "an all-zero query: $msg"
head -c 5000 songs.vxi > cut.vxi
fails 1 "vx-match: cut.vxi: the index is 5000 bytes but its header says" vx-match -e happy cut.vxi; ok $? "an index cut short: $msg"
fails 1 "vx-match: faces.vxt: not a song index (bad magic)" vx-match -e happy faces.vxt; ok $? "a stream given as the index: $msg"
cp songs.vxi absurd.vxi; printf '\377\377\377\377\377\377\377\177' | dd of=absurd.vxi bs=1 seek=24 conv=notrunc 2>/dev/null
fails 1 "vx-match: absurd.vxi: 9223372036854775807 songs is absurd" vx-match -e happy absurd.vxi; ok $? "an absurd song count: $msg"
"$gen" --generate 0 1 empty.vxi
fails 1 "vx-match: empty.vxi: the index holds no songs" vx-match -e happy empty.vxi; ok $? "an empty index: $msg"

# Usage errors: exit 2.
bad=0
for args in "--space bogus -e happy songs.vxi" "-k 0 -e happy songs.vxi" "-e happy -l 2 songs.vxi" "-e happy --explain --paths songs.vxi" \
            "-e happy -d 1.5 songs.vxi" "-e happy -v 1,0,0,0,0,0,0 songs.vxi" "-e happy songs.vxi faces.vxt" "" "--bogus songs.vxi"; do
  vx-match $args >/dev/null 2>&1; [ $? = 2 ] || { echo "# not exit 2: vx-match $args"; bad=1; }
done
fails 1 "vx-match: --emotion: 'glad' is not one of" vx-match -e glad songs.vxi && [ $bad = 0 ]
ok $? "9 usage errors exit 2; an unknown emotion exits 1"
vx-match --help | grep -q '^Usage: vx-match' && vx-match --version | grep -q '^vx-match (VibeluX) '; ok $? "--help and --version"
done_testing
