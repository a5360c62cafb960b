#!/bin/bash
# decode-image.t — vx-decode on every image kind it reads, pixel for pixel against what netpbm
# reads from the same file (fixtures made here with netpbm tools), and the OpenCV gray formula.
. "$(dirname "$0")/lib.sh"
plan 32

# Sample values of a PGM/PPM/PAM file, one a line (plain PBM is avoided: its digits run together).
samples() { pnmtoplainpnm "$@" 2>/dev/null | awk 'NR <= 3 { next } { for (i = 1; i <= NF; i++) print $i }'; }
# Gray by OpenCV's fixed-point formula from the R, G, B samples of an 8-bit PPM.
luma() { samples "$1" | awk '{ v[k++] = $1 } END { for (i = 0; i < k; i += 3) print int((9798 * v[i] + 19235 * v[i+1] + 3735 * v[i+2] + 16384) / 32768) }'; }
# 16-bit samples rounded to 8 bits.
to8() { samples "$1" | awk '{ print int(($1 * 255 + 32767) / 65535) }'; }
# The decoded record as PGM/PPM, through vx-topng.
decoded() { vx-decode "$@" | vx-topng; }
# PNG colour type and bit depth from IHDR, to be sure a fixture is of the kind the test names.
ihdr() { od -An -tu1 -j24 -N2 "$1" | awk '{ print $2 "/" $1 }'; }
same() { cmp -s "$1" "$2"; }

# ---- fixtures
pgmnoise -randomseed=4 16 8 > n.pgm
pgmnoise -randomseed=5 16 8 > a.pgm
for s in 1 2 3; do pgmnoise -randomseed=$s 8 4 > p$s.pgm; done
rgb3toppm p1.pgm p2.pgm p3.pgm > c.ppm
pgmnoise -randomseed=6 8 4 > a84.pgm
pgmramp -lr 16 4 > ramp.pgm
pbmmake -g 8 3 > k.pbm
pamdepth 255 k.pbm > k.pgm 2>/dev/null
pgmramp -lr -maxval 65535 65536 1 > r16.pgm
pgmramp -lr -maxval 65535 300 2 > x16.pgm
pgmramp -tb -maxval 65535 300 2 > y16.pgm
rgb3toppm x16.pgm y16.pgm x16.pgm > c16.ppm
pamdepth 255 c16.ppm > c16to8.ppm 2>/dev/null
ppmmake red 4 4 > red.ppm
pnmtopng -force n.pgm > gray8.png
pnmtopng ramp.pgm > gray4.png
pnmtopng k.pbm > gray1.png
pnmtopng -force -alpha=a.pgm n.pgm > ga.png
pnmtopng -force c.ppm > rgb.png
pnmtopng -force -alpha=a84.pgm c.ppm > rgba.png
pnmtopng c.ppm > pal8.png
pnmtopng -transparent==rgb:ff/00/00 red.ppm > pal1t.png
pnmtopng r16.pgm > gray16.png
pnmtopng c16.ppm > rgb16.png
pnmtopng -force -interlace c.ppm > interlaced.png
kinds="$(ihdr gray8.png) $(ihdr gray4.png) $(ihdr gray1.png) $(ihdr ga.png) $(ihdr rgb.png) $(ihdr rgba.png) $(ihdr pal8.png) $(ihdr pal1t.png) $(ihdr gray16.png) $(ihdr rgb16.png)"
[ "$kinds" = "0/8 0/4 0/1 4/8 2/8 6/8 3/8 3/1 0/16 2/16" ] && grep -q tRNS pal1t.png; ok $? "PNG fixtures have the colour types and depths named (got $kinds)"

# ---- PNG
decoded gray8.png > out.pgm; same out.pgm n.pgm; ok $? "PNG gray 8-bit"
decoded gray4.png > out.pgm; same out.pgm ramp.pgm; ok $? "PNG gray 4-bit expands to 8 bits"
decoded gray1.png > out.pgm; same out.pgm k.pgm; ok $? "PNG gray 1-bit: 0 and 255"
decoded ga.png > out.pgm; same out.pgm n.pgm; ok $? "PNG gray+alpha: alpha dropped, gray as stored"
decoded --rgb rgb.png > out.ppm; same out.ppm c.ppm; ok $? "PNG RGB with --rgb: three planes as stored"
[ "$(decoded rgb.png | samples)" = "$(luma c.ppm)" ]; ok $? "PNG RGB to gray by (9798 R + 19235 G + 3735 B + 16384) >> 15"
decoded --rgb rgba.png > out.ppm; same out.ppm c.ppm; ok $? "PNG RGBA: alpha dropped"
[ "$(decoded rgba.png | samples)" = "$(luma c.ppm)" ]; ok $? "PNG RGBA to gray"
decoded --rgb pal8.png > out.ppm; same out.ppm c.ppm; ok $? "PNG palette 8-bit"
decoded --rgb pal1t.png > out.ppm; same out.ppm red.ppm; ok $? "PNG palette 1-bit with tRNS: transparency dropped"
[ "$(decoded gray16.png | samples)" = "$(to8 r16.pgm)" ]; ok $? "PNG gray 16-bit: all 65536 values rounded to 8 bits"
[ "$(decoded --rgb rgb16.png | samples)" = "$(to8 c16.ppm)" ]; ok $? "PNG RGB 16-bit rounded to 8 bits"
[ "$(decoded rgb16.png | samples)" = "$(luma c16to8.ppm)" ]; ok $? "PNG RGB 16-bit to gray: rounded to 8 bits first"
decoded --rgb interlaced.png > out.ppm; same out.ppm c.ppm; ok $? "PNG interlaced"

# ---- PNM and PAM
decoded n.pgm > out.pgm; same out.pgm n.pgm; ok $? "PGM raw"
pnmtoplainpnm n.pgm > plain.pgm; decoded plain.pgm > out.pgm; same out.pgm n.pgm; ok $? "PGM plain (P2)"
decoded --rgb c.ppm > out.ppm; same out.ppm c.ppm; ok $? "PPM raw with --rgb"
[ "$(decoded c.ppm | samples)" = "$(luma c.ppm)" ]; ok $? "PPM to gray by the same formula"
pnmtoplainpnm c.ppm > plain.ppm; decoded --rgb plain.ppm > out.ppm; same out.ppm c.ppm; ok $? "PPM plain (P3)"
decoded k.pbm > out.pgm; same out.pgm k.pgm; ok $? "PBM raw: black 0, white 255"
pnmtoplainpnm k.pbm > plain.pbm; decoded plain.pbm > out.pgm; same out.pgm k.pgm; ok $? "PBM plain (P1)"
[ "$(decoded r16.pgm | samples)" = "$(to8 r16.pgm)" ]; ok $? "PGM 16-bit maxval: all 65536 values rounded"
pamtopam < c.ppm > rgb.pam; decoded --rgb rgb.pam > out.ppm; same out.ppm c.ppm; ok $? "PAM RGB"
pamstack c.ppm a84.pgm -tupletype=RGB_ALPHA > rgba.pam 2>/dev/null
decoded --rgb rgba.pam > out.ppm; same out.ppm c.ppm; ok $? "PAM RGB_ALPHA: alpha dropped"
pamstack n.pgm a.pgm -tupletype=GRAYSCALE_ALPHA > ga.pam 2>/dev/null
decoded ga.pam > out.pgm; same out.pgm n.pgm; ok $? "PAM GRAYSCALE_ALPHA: alpha dropped"
decoded --rgb n.pgm > out.ppm; same out.ppm "$(rgb3toppm n.pgm n.pgm n.pgm > gray3.ppm; echo gray3.ppm)"; ok $? "gray with --rgb: three equal planes"

# ---- record layout
line=$(vx-decode gray8.png | vx-ls -q); [ "$line" = "$(printf 'gray8.png\t-\tu8\t1x8x16')" ]
ok $? "key is the path, no label, u8 [1,8,16]: $line"
vx-decode --rgb --f32 rgb.png > f.vxt; line=$(vx-ls f.vxt | cut -f1-4)
[ "$line" = "$(printf 'rgb.png\t-\tf32\t3x4x8')" ] && vx-topng --range 0,1 f.vxt | cmp -s - c.ppm; ok $? "--f32 holds value/255: mapped back by --range 0,1 it is the image again"
vx-decode pal8.png | grep -a 'source=png' > /dev/null && vx-decode c.ppm | grep -a 'source=ppm' > /dev/null && vx-decode rgb.pam | grep -a 'source=pam' > /dev/null
ok $? "metadata source= names the format"
[ "$(cat rgb.png | vx-decode | vx-ls | cut -f1)" = stdin ] && cat rgb.png | vx-decode - | vx-topng | cmp -s - <(decoded rgb.png) && cat n.pgm | vx-decode | vx-topng | cmp -s - n.pgm
ok $? "standard input (no argument or '-'): key 'stdin', same pixels"

fer=${VX_SHARED:-/nonexistent}/data/fer2013/Training/happy
if [ -d "$fer" ]; then
  f=$(ls "$fer" | head -1); decoded "$fer/$f" | cmp -s - <(pngtopnm "$fer/$f"); ok $? "a FER-2013 face equals pngtopnm's reading"
else skip "no $fer: the data sets live in ../shared (make check SHARED=dir)"; fi
done_testing
