#!/bin/bash
# spectro.t — vx-spectro: against an independent numpy reference (synthetic, sox-made and a real
# music4q clip), a sine in the mel band the Slaney formula names, segment counts, keys and
# metadata, chunked input equal to whole input, and every bad input failing with exit 1.
. "$(dirname "$0")/lib.sh"
ignore_libsox_leaks
plan 30
PYTHON=${PYTHON:-/usr/bin/python3}  # Debian's python3-numpy, whatever python3 is first on PATH
ref=$src/tests/spectro_ref.py

# Record maker: mkrec DTYPE RANK DIM0 DIM1 KEY META PAYLOAD_FILE (perl pack, the format's header).
mkrec() {
  perl -e 'my ($t, $r, $d0, $d1, $k, $m, $p) = @ARGV; $m =~ s/\\n/\n/g; local $/; open F, "<", $p; my $d = <F> // "";
    print pack("a4 v v C C v V4 v v", "VXTS", 1, 32, $t, $r, 0xffff, $d0, $d1, 0, 0, length $k, length $m), $k, $m, $d' "$@"
}
# The f32 payload of record $2 (counting from 1) of stream $1, one value a line.
values() { perl -e 'local $/; open F, "<", $ARGV[0]; my $d = <F>; my ($at, $n) = (0, 0);
    while ($at < length $d) { my ($h, $k, $m) = (unpack("x6 v", substr($d, $at, 8)), unpack("v v", substr($d, $at + 28, 4)));
      my @dim = grep { $_ } unpack("V4", substr($d, $at + 12, 16)); my $c = 1; $c *= $_ for @dim; my $p = $at + $h + $k + $m;
      if (++$n == $ARGV[1]) { print join("\n", unpack("f<$c", substr($d, $p, 4 * $c))), "\n"; last } $at = $p + 4 * $c }' "$1" "$2"; }
# Passes when `vx-spectro -o out/x.vxt ARGS...` exits $1 with one line starting $2, leaving out/ empty.
fails() {
  local want=$1 prefix=$2 rc; shift 2
  rm -rf out; mkdir out
  msg=$(vx-spectro -o out/x.vxt "$@" 2>&1 >/dev/null); rc=$?
  [ $rc = "$want" ] && [[ "$msg" == "$prefix"* ]] && [ -z "$(ls -A out)" ] && [ "$(printf '%s\n' "$msg" | wc -l)" = 1 ]
}

sox -n -r 22050 -c 1 sine.wav synth 10 sine 1000 2>/dev/null
sox -n -r 44100 -c 2 mix.wav synth 7 pinknoise synth 7 sine mix 300-3000 vol 0.5 2>/dev/null
vx-decode sine.wav > sine.vxt && vx-decode mix.wav > mix.vxt

# ---- against numpy (float64): bands within 80 dB of their frame's loudest agree within 1e-3 dB
if "$PYTHON" -c 'import numpy' 2>/dev/null; then
  compare() { # AUDIO.vxt N_FFT HOP MELS FMIN FMAX SEG SEG_HOP [vx-spectro options]
    local a=$1; shift; local args=("$@")
    vx-spectro "${@:8}" "$a" > got.vxt && out=$("$PYTHON" "$ref" "$a" got.vxt "${args[@]:0:7}" 1e-3)
  }
  compare sine.vxt 2048 512 96 0 0 3 1.5 --segment 3 --segment-hop 1.5; ok $? "1 kHz sine, 3 s segments every 1.5 s: $out"
  compare mix.vxt 2048 512 96 0 0 0 0; ok $? "sox pink noise and a sweep, whole: $out"
  compare mix.vxt 1024 256 128 50 8000 0 0 --n-fft 1024 --hop 256 --mels 128 --fmin 50 --fmax 8000
  ok $? "the same with --n-fft 1024 --hop 256 --mels 128 --fmin 50 --fmax 8000: $out"
  # the music model's band: every band below a quarter of the rate, so the power spectrum stops early
  compare mix.vxt 2048 512 96 0 4000 0 0 --fmax 4000
  ok $? "the same with --fmax 4000: $out"
  clip=${VX_SHARED:-/nonexistent}/data/music4q/Q1
  if [ -d "$clip" ]; then
    vx-decode "$clip/$(ls "$clip" | head -1)" > clip.vxt
    compare clip.vxt 2048 512 96 0 0 3 1.5 --segment 3 --segment-hop 1.5; ok $? "a music4q Q1 clip in segments: $out"
  else skip "no $clip: the data sets live in ../shared (make check SHARED=dir)"; fi
else
  for i in 1 2 3 4 5; do skip "$PYTHON has no numpy (apt-get install python3-numpy, or PYTHON=...): no reference comparison"; done
fi

# ---- a sine peaks in the band whose Slaney triangle weighs its frequency most
for f in 440 2500 7000; do
  sox -n -r 22050 -c 1 tone.wav synth 2 sine $f 2>/dev/null
  want=$(awk -v f=$f -v n=96 -v fmax=11025 'function mel(h) { return h >= 1000 ? 15 + log(h / 1000) / (log(6.4) / 27) : h / (200 / 3) }
    function hz(m) { return m >= 15 ? 1000 * exp((log(6.4) / 27) * (m - 15)) : m * 200 / 3 }
    BEGIN { for (i = 0; i < n + 2; i++) e[i] = hz(i * mel(fmax) / (n + 1))
      for (i = 0; i < n; i++) { lo = (f - e[i]) / (e[i+1] - e[i]); hi = (e[i+2] - f) / (e[i+2] - e[i+1]); w = (lo < hi ? lo : hi) * 2 / (e[i+2] - e[i])
        if (w > best) { best = w; band = i } } print band }')
  vx-decode tone.wav | vx-spectro > tone.vxt
  frames=$(vx-ls -q tone.vxt | cut -f4 | cut -dx -f3)
  got=$(values tone.vxt 1 | awk -v t="$frames" '{ s[int((NR - 1) / t)] += $1 } END { for (m in s) if (!(m in best) && (b == "" || s[m] > s[b])) b = m; print b }')
  [ -n "$want" ] && [ "$got" = "$want" ]; ok $? "a $f Hz sine peaks in mel band $got (the Slaney formula: $want)"
done

# ---- segments: count, keys, shape, metadata
vx-spectro --segment 3 --segment-hop 1.5 sine.vxt > seg.vxt
# 10 s = 427 frames; 129-frame segments every 65: starts 0..325 kept (325 has 102 real frames), 390 has 37: dropped.
[ "$(vx-ls -q seg.vxt | cut -f1,4 | tr '\n' ' ')" = "$(for i in 0 1 2 3 4 5; do printf 'sine.wav#%s\t1x96x129 ' $i; done)" ]
ok $? "10 s in 3 s segments every 1.5 s: six records sine.wav#0..#5 of 1x96x129"
tail=$(perl -e 'local $/; $_ = <STDIN>; my @m = /(song=.*?scale=db\n)/sg; print $m[-1]' < seg.vxt)
[ "$tail" = "$(printf 'song=sine.wav\nsegment=5\nstart=7.546\nrate=22050\nn_fft=2048\nhop=512\nmels=96\nfmin=0\nfmax=11025\nscale=db\n')" ]
ok $? "the last segment's metadata: $(echo $tail)"
values seg.vxt 6 | awk 'NR % 129 > 102 || NR % 129 == 0 { if ($1 != -100) bad = 1 } END { exit bad || NR != 96 * 129 }'
ok $? "the partial last segment is padded with -100 dB after its 102 real frames"
vx-spectro --segment 3 sine.vxt | vx-ls -q | cut -f1 | tr '\n' ' ' | grep -qx 'sine.wav#0 sine.wav#1 sine.wav#2 '
ok $? "--segment 3 alone: segments do not overlap (three of 129 frames, the fourth has 40 real: dropped)"
[ "$(vx-spectro sine.vxt | vx-ls -q)" = "$(printf 'sine.wav\t-\tf32\t1x96x427')" ]; ok $? "no --segment: one whole spectrogram keyed as the song"
mkdir -p set/Q2; cp mix.wav set/Q2/
vx-decode --labels Q1,Q2 set | vx-spectro --segment 3 > lab.vxt
[ "$(vx-ls -q lab.vxt | cut -f2 | sort -u)" = 1 ] && [ "$(grep -ac 'classes=Q1,Q2' lab.vxt)" -ge 1 ] && [ "$(vx-ls -q lab.vxt | wc -l)" = 2 ]
ok $? "label and classes= are copied onto every segment"

# ---- chunks of one song are joined seamlessly
vx-decode --chunk 0.7 sine.wav mix.wav > chunks.vxt
[ "$(vx-ls -q chunks.vxt | wc -l)" -gt 20 ] && vx-spectro --segment 3 --segment-hop 1.5 chunks.vxt > a.vxt &&
  vx-spectro --segment 3 --segment-hop 1.5 sine.vxt mix.vxt > b.vxt && cmp -s a.vxt b.vxt
ok $? "vx-decode --chunk 0.7 of two songs: vx-spectro gives the same bytes as from whole records"
vx-spectro chunks.vxt | cmp -s - <(vx-spectro sine.vxt mix.vxt); ok $? "the same for whole spectrograms"
vx-decode --chunk 1 sine.wav > c1.vxt
perl -e 'local $/; $_ = <STDIN>; my ($at, $all, $meta) = (0, "", "");
  while ($at < length) { my ($h, $k, $m) = (unpack("x6 v", substr($_, $at, 8)), unpack("v v", substr($_, $at + 28, 4)));
    my $n = unpack("V", substr($_, $at + 12, 4)); $meta .= join(",", substr($_, $at + $h + $k, $m) =~ /(chunk=\d+|offset=\d+)/g) . " ";
    $all .= substr($_, $at + $h + $k + $m, 4 * $n); $at += $h + $k + $m + 4 * $n } print STDERR $meta; print $all' < c1.vxt > c1.f32 2> c1.meta
payload sine.vxt | cmp -s - c1.f32 && [ "$(cut -d' ' -f1-3 c1.meta)" = 'chunk=0,offset=0 chunk=1,offset=22050 chunk=2,offset=44100' ] &&
  [ "$(vx-ls -q c1.vxt | cut -f4 | tr '\n' ' ')" = '22050 22050 22050 22050 22050 22050 22050 22050 22050 22050 ' ]
ok $? "vx-decode --chunk 1: ten records of 22050 samples ($(cut -d' ' -f1-3 c1.meta)...), together the whole decode bit for bit"

# ---- bad input: one message naming the record, exit 1, nothing under -o
vx-decode "$src/data/samples/face.png" > img.vxt
fails 1 "vx-spectro: $src/data/samples/face.png: not mono f32 audio"  img.vxt; ok $? "an image record: $msg"
printf 'abcd' > four; mkrec 1 1 4 0 u8 'rate=22050\n' four > u8.vxt
fails 1 "vx-spectro: u8: not mono f32 audio" u8.vxt; ok $? "u8 samples: $msg"
head -c 16 /dev/zero > z16; mkrec 2 2 2 2 stereo 'rate=22050\n' z16 > r2.vxt
fails 1 "vx-spectro: stereo: not mono f32 audio" r2.vxt; ok $? "rank 2: $msg"
head -c 40000 /dev/zero > z; mkrec 2 1 10000 0 norate '' z > norate.vxt
fails 1 "vx-spectro: norate: no rate=" norate.vxt; ok $? "no rate=: $msg"
mkrec 2 1 10000 0 badrate 'rate=fast\n' z > badrate.vxt
fails 1 "vx-spectro: badrate: bad rate=fast" badrate.vxt; ok $? "rate=fast: $msg"
perl -e 'print pack("f<", 0) x 5000, pack("f<", "nan"), pack("f<", 0) x 4999' > nan; mkrec 2 1 10000 0 nan 'rate=22050\n' nan > nan.vxt
fails 1 "vx-spectro: nan: sample 5000 is NaN" nan.vxt; ok $? "a NaN sample: $msg"
mkrec 2 1 0 0 empty 'rate=22050\n' /dev/null > empty.vxt
fails 1 "vx-spectro: empty.vxt: record 1" empty.vxt; ok $? "an empty record (a zero dimension): $msg"
head -c 50000 sine.vxt > cut.vxt
fails 1 "vx-spectro: stdin: record 1 at byte 0: truncated payload" < cut.vxt; ok $? "a truncated stream: $msg"
vx-decode --chunk 1 sine.wav > c.vxt; perl -e 'local $/; $_ = <STDIN>; my @r = split /(?=VXTS)/; print @r[0, 2 .. $#r]' < c.vxt > gap.vxt
fails 1 "vx-spectro: sine.wav: chunk=2 does not follow" gap.vxt; ok $? "a missing chunk: $msg"

# ---- a song too short for half a segment: warned, exit 1, the rest of the stream goes on
sox -n -r 22050 -c 1 short.wav synth 1 sine 300 2>/dev/null
vx-decode sine.wav short.wav mix.wav | vx-spectro --segment 3 > rest.vxt 2> warn; rc=$?
[ $rc = 1 ] && grep -q '^vx-spectro: short.wav: 40 frames, less than half a segment of 129: no segment$' warn &&
  [ "$(vx-ls -q rest.vxt | cut -f1 | sed 's/#.*//' | uniq | tr '\n' ' ')" = 'sine.wav mix.wav ' ]
ok $? "a 1 s song in 3 s segments: $(cat warn), exit $rc, the songs around it done"

# ---- usage
vx-spectro --hop 4096 < /dev/null 2> err; [ $? = 2 ] && grep -q '^vx-spectro: --hop 4096 out of range' err; ok $? "--hop above --n-fft: $(cat err)"
vx-spectro --mels 0 < /dev/null 2> err; [ $? = 2 ] && grep -q '^vx-spectro: --mels' err; ok $? "--mels 0: $(cat err)"
fails 1 "vx-spectro: sine.wav: --fmax 20000 above half the rate" --fmax 20000 sine.vxt; ok $? "--fmax above rate/2 is an error of the record: $msg"
done_testing
