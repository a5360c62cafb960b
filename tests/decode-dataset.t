#!/bin/bash
# decode-dataset.t — vx-decode DIR on made-up class trees: order, labels, --labels, --unlabelled,
# --limit, and the folders and files that must stop it before it writes anything.
. "$(dirname "$0")/lib.sh"
ignore_libsox_leaks
plan 15

# Emotion folders in several spellings; byte order puts 0_angry before Happy before sad, and 10 before 2.
mkdir -p ds/0_angry ds/Happy ds/sad ds/.cache
for f in 0_angry/2 0_angry/10 0_angry/1 Happy/z sad/b sad/a .cache/x; do pgmmake 0.5 3 2 > "ds/$f.pgm"; done
echo "not part of the data" > ds/README.md
touch ds/sad/.DS_Store
keys() { vx-ls -q | cut -f1,2 | tr '\t\n' ': '; }

out=$(vx-decode ds | keys)
[ "$out" = "ds/0_angry/1.pgm:anger ds/0_angry/10.pgm:anger ds/0_angry/2.pgm:anger ds/Happy/z.pgm:happy ds/sad/a.pgm:sad ds/sad/b.pgm:sad " ]
ok $? "folders by name, files by name within, labels from folder names; hidden and loose files left out"
[ "$(vx-decode ds/ | keys)" = "$out" ]; ok $? "a trailing slash on DIR changes no key"
[ "$(vx-decode ds | vx-ls --count | tr '\t\n' ': ')" = "anger:3 disgust:0 fear:0 happy:1 neutral:0 sad:2 surprise:0 unlabelled:0 total:6 " ]
ok $? "per-class counts"
[ "$(vx-decode --limit 1 ds | keys)" = "ds/0_angry/1.pgm:anger ds/Happy/z.pgm:happy ds/sad/a.pgm:sad " ]; ok $? "--limit 1: the first file of each class"
[ "$(vx-decode ds/sad/a.pgm ds | vx-ls -q | wc -l)" = 7 ]; ok $? "files and data sets mix on one command line"

mkdir ds/bored; pgmmake 0.5 3 2 > ds/bored/q.pgm
err=$(vx-decode -o out.vxt ds 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-decode: ds: folder 'bored' is not an emotion class"* ]] && [ -z "$(ls | grep out)" ]
ok $? "an unknown folder is named, exit 1, no output file: $err"
[ -z "$(vx-decode ds 2>/dev/null | head -c 1)" ]; ok $? "... and nothing is written to standard output first"
[ "$(vx-decode --unlabelled ds | vx-ls -q | cut -f2 | sort -u)" = "-" ]; ok $? "--unlabelled takes any folder names and labels nothing"
rm -r ds/bored

# An audio data set whose folders are not emotions.
mkdir -p q/Q2 q/Q1 q/Q4
sox -n -r 8000 -c 1 q/Q1/s.wav synth 0.1 sine 300 2>/dev/null
sox -n -r 8000 -c 2 q/Q2/s.flac synth 0.2 sine 300 2>/dev/null
sox -n -r 8000 -c 1 q/Q4/s.wav synth 0.1 sine 300 2>/dev/null
cp q/Q1/s.wav q/notes.wav
out=$(vx-decode --labels Q1,Q2,Q3,Q4 -r 4000 q | vx-ls -q | cut -f1,2,4 | tr '\t\n' ': ')
[ "$out" = "q/Q1/s.wav:0:400 q/Q2/s.flac:1:800 q/Q4/s.wav:3:400 " ] && vx-decode --labels Q1,Q2,Q3,Q4 q | grep -a 'classes=Q1,Q2,Q3,Q4' > /dev/null
ok $? "--labels: label = position in the list, metadata classes=: $out"
err=$(vx-decode --labels Q1,Q2 q 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-decode: q: folder 'Q4' is not in the labels Q1,Q2" ]]; ok $? "a folder missing from --labels: $err"
vx-decode --labels Q1,,Q2 q > /dev/null 2>&1; a=$?; vx-decode --labels Q1 --unlabelled q > /dev/null 2>&1; b=$?
[ $a = 2 ] && [ $b = 2 ]; ok $? "an empty name in --labels, or --labels with --unlabelled: exit 2"

mkdir empty; err=$(vx-decode empty 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-decode: empty: no class folders"* ]]; ok $? "a folder without class folders: $err"
echo junk > ds/sad/c.pgm
err=$(vx-decode -o out.vxt ds 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-decode: ds/sad/c.pgm: "* ]] && [ -z "$(ls | grep out)" ]; ok $? "a bad file in a class folder is named, no output file: $err"
rm ds/sad/c.pgm
err=$(vx-decode --progress ds 2>&1 >/dev/null); [[ "$err" == *"files 6/6"* ]]; ok $? "--progress reports on standard error"

fer=${VX_SHARED:-/nonexistent}/data/fer2013/PublicTest
if [ -d "$fer" ]; then
  out=$(vx-decode --limit 2 "$fer" | vx-ls -q | cut -f2,3,4 | uniq -c | awk '{ print $1 $2 $3 $4 }' | tr '\n' ' ')
  [ "$out" = "2angeru81x48x48 2disgustu81x48x48 2fearu81x48x48 2happyu81x48x48 2neutralu81x48x48 2sadu81x48x48 2surpriseu81x48x48 " ]
  ok $? "FER-2013 PublicTest --limit 2: two 1x48x48 faces per class in class order"
else skip "no $fer: the data sets live in ../shared (make check SHARED=dir)"; fi
done_testing
