#!/bin/bash
# decode-errors.t — every kind of bad input and bad option: vx-decode must say `vx-decode: ...`,
# exit 1 (2 for usage), never crash, and leave no output file behind when writing with -o.
. "$(dirname "$0")/lib.sh"
ignore_libsox_leaks
plan 29

# Runs vx-decode -o out/x.vxt ARGS...; passes when it exits with $1, its message starts with $2,
# and out/ is left empty (no result, no temporary file).
fails() {
  local want=$1 prefix=$2 err rc; shift 2
  rm -rf out; mkdir out
  err=$(vx-decode -o out/x.vxt "$@" 2>&1 >/dev/null); rc=$?
  msg=$err
  [ $rc = "$want" ] && [[ "$err" == "$prefix"* ]] && [ -z "$(ls -A out)" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ]
}
# Copies $1 to $3 with the bytes at offset $2 onward XOR-ed with 0x5a for $4 bytes.
flip() { perl -e 'local $/; open F, "<", $ARGV[0]; my $d = <F>; substr($d, $ARGV[1], $ARGV[2]) ^= chr(0x5a) x $ARGV[2]; print $d' "$1" "$2" "$4" > "$3"; }
# Copies PNG $1 to $2 with IHDR width and height $3 x $4 and a correct CRC, so only the size is wrong.
resize_png() { perl -MCompress::Zlib -e 'local $/; open F, "<", $ARGV[0]; my $d = <F>; substr($d, 16, 8) = pack("NN", $ARGV[1], $ARGV[2]); substr($d, 29, 4) = pack("N", crc32(substr($d, 12, 17))); print $d' "$1" "$3" "$4" > "$2"; }

pgmnoise -randomseed=7 64 64 > good.pgm
pnmtopng good.pgm > good.png
sox -n -r 44100 -c 2 good.mp3 synth 0.5 sine 440 2>/dev/null
sox -n -r 8000 -c 1 good.wav synth 0.5 sine 440 2>/dev/null

mkdir out; vx-decode -o out/x.vxt good.png good.pgm good.mp3 && [ "$(ls -A out)" = x.vxt ] && [ "$(vx-ls -q out/x.vxt | wc -l)" = 3 ]
ok $? "the good fixtures decode, -o leaves just the result"

head -c 100 good.png > trunc.png
fails 1 "vx-decode: trunc.png: file is truncated" trunc.png; ok $? "truncated PNG: $msg"
head -c 8 good.png > sig.png
fails 1 "vx-decode: sig.png: " sig.png; ok $? "PNG signature alone: $msg"
flip good.png 100 corrupt.png 40
fails 1 "vx-decode: corrupt.png: " corrupt.png; ok $? "corrupt PNG (bytes flipped in IDAT): $msg"
resize_png good.png hugeihdr.png 2147483647 2147483647
fails 1 "vx-decode: hugeihdr.png: " hugeihdr.png; ok $? "PNG claiming 2^31-1 x 2^31-1: $msg"
resize_png good.png big.png 900000 900000
fails 1 "vx-decode: big.png: image 900000x900000: shape is too large" big.png; ok $? "PNG claiming 900000 x 900000, refused before allocating: $msg"
resize_png good.png wide.png 64 65
fails 1 "vx-decode: wide.png: " wide.png; ok $? "PNG whose IHDR promises more rows than IDAT holds: $msg"
fails 1 "vx-decode: trunc.png: " good.png good.wav trunc.png; ok $? "a failure after good records still leaves no output file"

head -c 1000 good.pgm > trunc.pgm
fails 1 "vx-decode: trunc.pgm: " trunc.pgm; ok $? "truncated PGM: $msg"
printf 'P5\n64' > header.pgm
fails 1 "vx-decode: header.pgm: " header.pgm; ok $? "PGM cut inside its header: $msg"
printf 'P5\n2000000 3\n255\n' > huge.pgm
fails 1 "vx-decode: huge.pgm: image size 2000000x3 is outside 1..1000000 per side" huge.pgm; ok $? "PGM too wide: $msg"
printf 'P5\n4 4\n0\n' > maxval.pgm
fails 1 "vx-decode: maxval.pgm: " maxval.pgm; ok $? "PGM with maxval 0: $msg"
printf 'P7\nWIDTH 2\nHEIGHT 2\nDEPTH 9\nMAXVAL 255\nENDHDR\n' > deep.pam; head -c 36 /dev/zero >> deep.pam
fails 1 "vx-decode: deep.pam: PAM depth 9" deep.pam; ok $? "PAM of depth 9: $msg"

yes 'no picture, no sound' | head -c 3000 > garbage.bin
fails 1 "vx-decode: garbage.bin: not an image, nor audio" garbage.bin; ok $? "garbage: $msg"
{ printf 'ID3\003\000\000\000\000\000\000'; yes 'no frames' | head -c 5000; } > corrupt.mp3
fails 1 "vx-decode: corrupt.mp3: " corrupt.mp3; ok $? "MP3 of a tag and no frames: $msg"
head -c 30 good.wav > trunc.wav
fails 1 "vx-decode: trunc.wav: " trunc.wav; ok $? "WAV cut inside its header: $msg"
: > empty.png
fails 1 "vx-decode: empty.png: empty file" empty.png; ok $? "empty file: $msg"
fails 1 "vx-decode: cannot open missing.png: " missing.png; ok $? "nonexistent file: $msg"
err=$(yes garbage | head -c 100 | vx-decode 2>&1 >/dev/null); [ $? = 1 ] && [[ "$err" == "vx-decode: stdin: "* ]]; ok $? "garbage on standard input: $err"
err=$(vx-decode -o missing-dir/x.vxt good.png 2>&1); [ $? = 1 ] && [[ "$err" == "vx-decode: cannot create"* ]]; ok $? "output into a missing folder: $err"

fails 2 "vx-decode: --rate: 'fast' is not an integer" --rate fast good.wav; ok $? "--rate fast: $msg"
fails 2 "vx-decode: --rate: 10 is out of range" -r 10 good.wav; ok $? "--rate 10: $msg"
fails 2 "vx-decode: --offset: -1 is out of range" --offset -1 good.wav; ok $? "--offset -1: $msg"
fails 2 "vx-decode: --duration: 0 is out of range" --duration 0 good.wav; ok $? "--duration 0: $msg"
fails 2 "vx-decode: --length: 0 is out of range" --length 0 good.wav; ok $? "--length 0: $msg"
fails 2 "vx-decode: --limit: 'x' is not an integer" --limit x .; ok $? "--limit x: $msg"
vx-decode --bogus > /dev/null 2>&1; [ $? = 2 ]; ok $? "unknown option: exit 2"
vx-decode --help | grep -q '^Usage: vx-decode'; ok $? "--help"
vx-decode --version | grep -q '^vx-decode (VibeluX) '; ok $? "--version"
done_testing
