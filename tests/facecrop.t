#!/bin/bash
# facecrop.t — vx-facecrop as a program: images and streams in, face records or text out, the
# no-face rule, atomic output, and every usage and input error.
. "$(dirname "$0")/lib.sh"
plan 22

photo=$src/data/samples/face.png
tiny=$src/tests/data/facecrop/tiny.xml
have_cascade=0; [ -r /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ] && have_cascade=1
# The drawn scenes of the C test (facecrop.c): scene A has tiny.xml's pattern at (20,14).
"${VX_BUILD:-$src/build}/tests/face_scenes.t" --dump "$tmp" || echo "# cannot dump the scenes"
cd "$tmp" || exit 1

out=$(vx-facecrop --opencv --cascade "$tiny" --min-size 0 -n 2 -t scene-a.pgm)
[ "$out" = "scene-a.pgm 20 14 10 10 3" ]; ok $? "a PGM file, a hand-made cascade: '$out'"
vx-facecrop --opencv --cascade "$tiny" --min-size 0 -n 2 scene-a.pgm > a.vx
[ "$(vx-ls -q a.vx)" = "$(printf 'scene-a.pgm#0\t-\tu8\t1x48x48')" ]; ok $? "one 48x48 gray record keyed FILE#0"
grep -aq 'box=20 14 10 10' a.vx && grep -aq 'strength=3' a.vx; ok $? "metadata box= and strength="
[ "$(vx-facecrop --opencv --cascade "$tiny" --min-size 0 -n 2 --size 20 scene-a.pgm | vx-ls -q | cut -f4)" = 1x20x20 ]
ok $? "--size sets the crop size"

if [ $have_cascade = 1 ]; then
    out=$(vx-facecrop --opencv -t "$photo")
    [ "$out" = "$photo 79 65 99 99 33" ]; ok $? "the sample photo, OpenCV's box: '$out'"
    out=$(vx-decode "$photo" | vx-facecrop --opencv -t)
    [ "$out" = "$photo 79 65 99 99 33" ]; ok $? "the same from a stream on standard input"
    # Two faces side by side, the second smaller: --all lists both, largest first.
    pngtopnm "$photo" | ppmtopgm > big.pgm
    pnmscale 0.6 big.pgm > small.pgm
    pnmcat -lr -jtop big.pgm small.pgm > two.pgm
    out=$(vx-facecrop --opencv -t two.pgm | wc -l)
    [ "$out" = 1 ]; ok $? "by default only the largest face"
    out=$(vx-facecrop --opencv -t --all two.pgm | awk '{ print $4 }' | tr '\n' ' ')
    [[ "$out" =~ ^([0-9]+)\ ([0-9]+)\ $ ]] && [ "${BASH_REMATCH[1]}" -gt "${BASH_REMATCH[2]}" ]
    ok $? "--all: both faces, the larger first (widths $out)"
    keys=$(vx-facecrop --opencv --all -m 0.1 two.pgm | vx-ls -q | cut -f1 | tr '\n' ' ')
    [ "$keys" = "two.pgm#0 two.pgm#1 " ]; ok $? "records two.pgm#0 and #1 (with a margin)"
else
    for i in 1 2 3 4 5; do skip "opencv-data is not installed"; done
fi

pgmmake 0.5 64 48 > flat.pgm
err=$(vx-facecrop --opencv --cascade "$tiny" flat.pgm 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [ "$err" = "vx-facecrop: flat.pgm: no face found" ]; ok $? "no face: exit 1 and '$err'"
vx-facecrop --opencv --cascade "$tiny" --allow-none flat.pgm > none.out; rc=$?
[ $rc = 0 ] && [ ! -s none.out ]; ok $? "--allow-none: nothing written, exit 0"
cat flat.pgm scene-a.pgm > /dev/null
vx-facecrop --opencv --cascade "$tiny" --min-size 0 -n 2 -o out.vx scene-a.pgm flat.pgm 2>/dev/null; rc=$?
[ $rc = 1 ] && [ ! -e out.vx ] && [ -z "$(ls | grep tmp)" ]; ok $? "-o: a failure leaves no file behind"
vx-facecrop --opencv --cascade "$tiny" --min-size 0 -n 2 --allow-none -o out.vx scene-a.pgm flat.pgm; rc=$?
[ $rc = 0 ] && [ "$(vx-ls -q out.vx | wc -l)" = 1 ]; ok $? "-o with --allow-none: the file holds the one face"

printf '<opencv_storage><cascade><stageType>BOOST</stageType>\n<featureType>LBP</featureType></cascade></opencv_storage>\n' > bad.xml
err=$(vx-facecrop --opencv --cascade bad.xml scene-a.pgm 2>&1); rc=$?
[ $rc = 1 ] && [ "$err" = "vx-facecrop: bad.xml:2: <featureType>: only HAAR features are supported (not LBP)" ]
ok $? "a broken cascade names line and element: '$err'"
echo hello > text.txt
err=$(vx-facecrop --opencv --cascade "$tiny" text.txt 2>&1); rc=$?
[ $rc = 1 ] && [ "$err" = "vx-facecrop: text.txt: neither a tensor stream nor a PNG/PNM image" ]; ok $? "not an image: '$err'"
# An f32 record [2] "v" is no image.
printf 'VXTS\001\000\040\000\002\001\377\377\002\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000v\000\000\000\200\077\000\000\000\300' > vec.vx
err=$(vx-facecrop --opencv --cascade "$tiny" < vec.vx 2>&1); rc=$?
[ $rc = 1 ] && [ "$err" = "vx-facecrop: v: the record holds f32 values, not u8 pixels" ]; ok $? "a non-image record: '$err'"
err=$(vx-facecrop --opencv --cascade "$tiny" missing.pgm 2>&1); [ $? = 1 ]; ok $? "missing file: exit 1"

vx-facecrop --scale-factor 1 x 2>/dev/null; [ $? = 2 ]; ok $? "--scale-factor 1: exit 2"
err=$(vx-facecrop --margin 2 x 2>&1); [ $? = 2 ] && [ "$err" = "vx-facecrop: --margin: 2 is out of range [0, 1]" ]
ok $? "--margin out of range: '$err'"
vx-facecrop --bogus >/dev/null 2>&1; [ $? = 2 ]; ok $? "unknown option: exit 2"
vx-facecrop --help | grep -q '^Usage: vx-facecrop'; ok $? "--help"
vx-facecrop --version | grep -q '^vx-facecrop (VibeluX) '; ok $? "--version"
done_testing
