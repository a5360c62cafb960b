#!/bin/bash
# topng.t — vx-topng: round trips PGM/PPM -> stream -> PGM/PPM/PNG, record choice, f32 scaling,
# shapes that are no image, and its error and usage exits.
. "$(dirname "$0")/lib.sh"
plan 20

# Bytes of a PGM/PPM payload after its three header lines, as decimal numbers.
body() { tail -c "$1" "$2" | od -An -tu1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'; }

pgmnoise -randomseed=8 20 10 > g.pgm
for s in 1 2 3; do pgmnoise -randomseed=$s 7 5 > p$s.pgm; done
rgb3toppm p1.pgm p2.pgm p3.pgm > c.ppm
vx-decode g.pgm > g.vxt; vx-decode --rgb c.ppm > c.vxt

vx-topng g.vxt | cmp -s - g.pgm; ok $? "PGM -> stream -> PGM is identical"
vx-topng < c.vxt | cmp -s - c.ppm; ok $? "PPM -> stream (--rgb) -> PPM is identical, from standard input"
vx-topng --png g.vxt > g.png && [ "$(od -An -tu1 -j24 -N2 g.png | tr -s ' ')" = " 8 0" ] && pngtopnm g.png | cmp -s - g.pgm
ok $? "--png: 8-bit gray PNG with the same pixels"
vx-topng --png c.vxt | pngtopnm | cmp -s - c.ppm; ok $? "--png: RGB PNG with the same pixels"
mkdir out; vx-topng -o out/g.pgm g.vxt && cmp -s out/g.pgm g.pgm && [ "$(ls -A out)" = g.pgm ]; ok $? "-o writes the file and nothing else"

cat c.vxt g.vxt c.vxt > three.vxt
vx-topng --index 1 three.vxt | cmp -s - g.pgm && vx-topng -i 2 three.vxt | cmp -s - c.ppm; ok $? "--index counts from 0"
vx-topng --key g.pgm three.vxt | cmp -s - g.pgm; ok $? "--key picks the record by key"
err=$(vx-topng --index 3 three.vxt 2>&1 >/dev/null); [ $? = 1 ] && [ "$err" = "vx-topng: three.vxt: no record 3 (the stream holds 3)" ]; ok $? "--index past the end: $err"
err=$(vx-topng --key nope three.vxt 2>&1 >/dev/null); [ $? = 1 ] && [ "$err" = "vx-topng: three.vxt: no record with key 'nope'" ]; ok $? "--key not found: $err"

# Hand-made records: u8 [2,3]; f32 [1,5] holding -1 0 1 3 NaN; u8 [2,2,2].
printf 'VXTS\001\000\040\000\001\002\377\377\002\000\000\000\003\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000m\000\012\024\036\050\062' > hw.vxt
printf 'VXTS\001\000\040\000\002\002\377\377\001\000\000\000\005\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000f\000\000\200\277\000\000\000\000\000\000\200\077\000\000\100\100\000\000\300\177' > f.vxt
printf 'VXTS\001\000\040\000\001\003\377\377\002\000\000\000\002\000\000\000\002\000\000\000\000\000\000\000\001\000\000\000kABCDEFGH' > cube.vxt
[ "$(vx-topng hw.vxt | head -c 11)" = "$(printf 'P5\n3 2\n255')" ] && [ "$(vx-topng hw.vxt | body 6 -)" = "0 10 20 30 40 50" ]
ok $? "a rank-2 [H,W] record is a PGM"
out=$(vx-topng f.vxt | body 5 -); [ "$out" = "0 64 128 255 0" ]; ok $? "f32 by default maps its min..max onto 0..255, NaN to 0: $out"
out=$(vx-topng --range 0,1 f.vxt | body 5 -); [ "$out" = "0 0 255 255 0" ]; ok $? "--range 0,1 clamps: $out"
out=$(vx-topng --range=-2,2 f.vxt | body 5 -); [ "$out" = "64 128 191 255 0" ]; ok $? "--range -2,2: $out"
err=$(vx-topng -o out/cube.pgm cube.vxt 2>&1); rc=$?
[ $rc = 1 ] && [ "$err" = "vx-topng: k: shape 2x2x2 is not an image ([H,W] or [1 or 3,H,W])" ] && [ "$(ls -A out)" = g.pgm ]
ok $? "a shape that is no image: exit 1, shape named, no output file: $err"
sox -n -r 8000 -c 1 tone.wav synth 0.1 sine 300 2>/dev/null
err=$(vx-decode tone.wav | vx-topng 2>&1 >/dev/null); [ $? = 1 ] && [[ "$err" == "vx-topng: tone.wav: shape 2205 is not an image"* ]]; ok $? "audio: $err"
err=$(vx-topng < g.pgm 2>&1 >/dev/null); [ $? = 1 ] && [[ "$err" == "vx-topng: stdin: record 1 at byte 0: bad magic"* ]]; ok $? "not a stream: $err"

bad=0
for opts in "--range 1,0" "--range 0" "--range a,b" "--index -1" "--index x" "--index 0 --key g.pgm" "--bogus" "g.vxt c.vxt"; do
  # shellcheck disable=SC2086
  vx-topng $opts g.vxt > /dev/null 2>&1; rc=$?; [ $rc = 2 ] || { echo "# $opts: exit $rc"; bad=1; }
done
ok $bad "bad option values and usage: exit 2"
err=$(vx-topng --range 1,0 g.vxt 2>&1); [ "$err" = "vx-topng: --range: LO must be below HI in '1,0'" ]; ok $? "usage message: $err"
vx-topng --help | grep -q '^Usage: vx-topng'; ok $? "--help"
vx-topng --version | grep -q '^vx-topng (VibeluX) '; ok $? "--version"
done_testing
