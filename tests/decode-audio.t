#!/bin/bash
# decode-audio.t — vx-decode on WAV, MP3, Ogg Vorbis and FLAC made here with sox: the samples must
# equal `sox IN -t f32 -r RATE -c 1 -` (and its trim), and --length must cut or pad.
. "$(dirname "$0")/lib.sh"
ignore_libsox_leaks
plan 16

# Largest absolute difference between two raw f32 files (and a difference in length is a failure).
maxdiff() {
  [ "$(stat -c %s "$1")" = "$(stat -c %s "$2")" ] || { echo inf; return; }
  paste <(od -An -v -w4 -f "$1") <(od -An -v -w4 -f "$2") |
    awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%g\n", m + 0 }'
}
# Decodes with vx-decode OPTIONS... FILE into got.f32 (none left from before when it fails) and
# compares with sox's output in want.f32, which must hold samples.
same_as_sox() { [ -s want.f32 ] && cmp -s got.f32 want.f32; }
decode() { rm -f got.vxt got.f32; vx-decode "$@" > got.vxt && payload got.vxt > got.f32; }

sox -n -r 44100 -c 2 tone.wav synth 1.3 sine 440 sine 1000 2>/dev/null
for e in mp3 ogg flac; do sox tone.wav tone.$e 2>/dev/null; done
sox -n -r 22050 -c 1 mono.wav synth 0.7 sine 300 2>/dev/null

for e in wav mp3 ogg flac; do
  decode tone.$e; sox tone.$e -t f32 -r 22050 -c 1 - > want.f32 2>/dev/null
  same_as_sox; ok $? "$e, stereo 44.1 kHz: identical to sox -t f32 -r 22050 -c 1 ($(stat -c %s got.f32) bytes)"
done
decode --rate 16000 tone.wav; sox tone.wav -t f32 -r 16000 -c 1 - > want.f32; same_as_sox; ok $? "--rate 16000: identical to sox -r 16000"
decode -r 8000 tone.flac; sox tone.flac -t f32 -r 8000 -c 1 - > want.f32; same_as_sox; ok $? "-r 8000 on FLAC"
decode mono.wav; sox mono.wav -t f32 -r 22050 -c 1 - > want.f32; same_as_sox; ok $? "mono at the target rate passes unchanged"

line=$(vx-decode tone.wav | vx-ls -q)
[ "$line" = "$(printf 'tone.wav\t-\tf32\t28665')" ] && vx-decode tone.wav | grep -a 'rate=22050' > /dev/null && vx-decode tone.mp3 | grep -a 'source=mp3' > /dev/null
ok $? "record: key, f32 [samples], rate=22050 and source= in the metadata: $line"

decode --offset 0.25 --duration 0.5 -r 16000 tone.wav
sox tone.wav -t f32 -r 16000 -c 1 - trim 0.25 0.5 > want.f32; same_as_sox; ok $? "--offset 0.25 --duration 0.5: identical to sox trim 0.25 0.5"
# sox seeks an MP3 for a leading trim, which libsox does not do sample-exactly; through a pipe it
# cannot seek and decodes from the start, as vx-decode does.
decode --offset 0.25 --duration 0.5 -r 16000 tone.mp3
sox tone.mp3 -t sox - 2>/dev/null | sox -t sox - -t f32 -r 16000 -c 1 - trim 0.25 0.5 > want.f32; same_as_sox
ok $? "--offset/--duration on MP3: identical to sox trim on the whole decoded signal"
decode --offset 1 tone.wav; sox tone.wav -t f32 -r 22050 -c 1 - trim 1 > want.f32; same_as_sox; ok $? "--offset alone keeps the rest"

decode tone.ogg; cp got.f32 whole.f32
decode --length 100000 tone.ogg
head -c "$(stat -c %s whole.f32)" got.f32 | cmp -s - whole.f32 && [ "$(stat -c %s got.f32)" = 400000 ] &&
  [ -z "$(tail -c +$(($(stat -c %s whole.f32) + 1)) got.f32 | tr -d '\000')" ]
ok $? "--length above the natural length pads with zeros"
decode --length 1000 tone.ogg; head -c 4000 whole.f32 | cmp -s - got.f32; ok $? "--length below it cuts"

cat tone.mp3 | vx-decode > got.vxt; payload got.vxt > got.f32; sox tone.mp3 -t f32 -r 22050 -c 1 - > want.f32 2>/dev/null
same_as_sox && [ "$(vx-ls -q got.vxt | cut -f1)" = stdin ]; ok $? "MP3 on standard input, told by content"
cp tone.flac noext; [ "$(vx-decode noext tone.wav | vx-ls -q | cut -f1,4 | tr '\n' ' ')" = "$(printf 'noext\t28665 tone.wav\t28665 ')" ]
ok $? "a file without extension is decoded by content; two files make two records"

song=${VX_SHARED:-/nonexistent}/data/music4q/Q3
if [ -d "$song" ]; then
  f=$song/$(ls "$song" | head -1)
  decode "$f"; sox "$f" -t f32 -r 22050 -c 1 - > want.f32 2>/dev/null; d=$(maxdiff got.f32 want.f32)
  awk -v d="$d" 'BEGIN { exit !(d <= 1e-6) }'; ok $? "a music4q MP3: max |vx-decode - sox| = $d"
else skip "no $song: the data sets live in ../shared (make check SHARED=dir)"; fi
done_testing
