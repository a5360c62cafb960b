#!/bin/bash
# webcam.t — the live pipeline without a camera: images back to back on standard input (as ffmpeg's
# image2pipe writes them) or in a file, through vx-decode and vx-facecrop, output flushed frame by frame
# (vx-facecrop, vx-infer -u), vx-bars' moving average and errors, pipelines/webcam.sh on a video
# file and a folder of frames, its no-camera message, and pipelines/face-picture.sh's PNG.
. "$(dirname "$0")/lib.sh"
plan 30

photo=$src/data/samples/face.png
cascade=/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml
pngtopam "$photo" > face.ppm
pamflip -tb face.ppm > flipped.ppm # upside down: no face for the cascade
cat face.ppm face.ppm flipped.ppm face.ppm > frames.ppm

# --- images back to back on standard input
keys=$(vx-decode < frames.ppm | vx-ls -q | cut -f1,4 | tr '\t\n' '  ')
[ "$keys" = "stdin 1x256x256 stdin:2 1x256x256 stdin:3 1x256x256 stdin:4 1x256x256 " ]
ok $? "vx-decode: four PPMs on standard input are four records: $keys"
vx-decode < frames.ppm > frames.vx; vx-topng -i 2 frames.vx | cmp -s - <(vx-decode flipped.ppm | vx-topng)
ok $? "vx-decode: the third image of the stream has the third image's pixels"
cat "$photo" "$photo" | vx-decode - | vx-ls -q | cut -f1 | tr '\n' ' ' | grep -x 'stdin stdin:2 ' > /dev/null
ok $? "vx-decode: two PNGs back to back are two records"
printf 'P5\n2 2\n255\nabcd' | cat face.ppm - | vx-decode | vx-ls -q | cut -f4 | tr '\n' ' ' | grep -x '1x256x256 1x2x2 ' > /dev/null
ok $? "vx-decode: a PPM then a PGM"
keys=$(vx-decode frames.ppm | vx-ls -q | cut -f1 | tr '\n' ' ')
[ "$keys" = "frames.ppm frames.ppm:2 frames.ppm:3 frames.ppm:4 " ]; ok $? "vx-decode: a file of four PPMs (netpbm allows it): $keys"
keys=$(vx-decode <(cat frames.ppm) | vx-ls -q | cut -f1 | sed 's|.*/||' | tr '\n' ' ')
[[ $keys =~ ^[0-9]+\ [0-9]+:2\ [0-9]+:3\ [0-9]+:4\ $ ]]; ok $? "vx-decode: the same through a named pipe: $keys"
sox -n -r 8000 -c 1 tone.wav synth 0.05 sine 440 2>/dev/null
[ "$(vx-decode -r 8000 <(cat tone.wav) | vx-ls -q | cut -f3,4)" = "$(printf 'f32\t400')" ]; ok $? "vx-decode: audio through a named pipe is one record, nothing lost"
err=$(printf 'junk' | cat face.ppm - | vx-decode 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [ "$err" = "vx-decode: stdin: not a PNG or PNM image (first byte 0x6a)" ]; ok $? "junk after an image: '$err'"
err=$(head -c 1000 face.ppm | cat face.ppm - | vx-decode 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ $err == "vx-decode: stdin: "* ]]; ok $? "a truncated second image: '$err'"

if [ -r "$cascade" ]; then
    out=$(vx-facecrop -t --allow-none < frames.ppm | cut -d' ' -f1 | tr '\n' ' ')
    [ "$out" = "stdin stdin:2 stdin:4 " ]; ok $? "vx-facecrop: PPMs on standard input, the upside-down one has no face: $out"
    out=$(vx-facecrop -t --allow-none frames.ppm | cut -d' ' -f1 | tr '\n' ' ')
    [ "$out" = "frames.ppm frames.ppm:2 frames.ppm:4 " ]; ok $? "vx-facecrop: the same images in a file: $out"
    out=$(vx-decode < frames.ppm | vx-facecrop -t --allow-none | cut -d' ' -f1 | tr '\n' ' ')
    [ "$out" = "stdin stdin:2 stdin:4 " ]; ok $? "vx-facecrop: the same through vx-decode"
    err=$(vx-facecrop -t < frames.ppm 2>&1 >/dev/null); [ $? = 1 ] && [ "$err" = "vx-facecrop: stdin:3: no face found" ]
    ok $? "vx-facecrop: a frame without a face stops it without --allow-none: '$err'"
    # A live source: the first frame's line must come out while the source is still open.
    exec 3< <({ cat face.ppm; sleep 20; } | vx-facecrop -t)
    line=; read -t 10 -r line <&3
    [[ $line == "stdin "[0-9]* ]]; ok $? "vx-facecrop: the first frame's face leaves before the input ends: '$line'"
    exec 3<&-
else
    for i in 1 2 3 4 5; do skip "no $cascade (apt-get install opencv-data)"; done
fi

# --- a throwaway 7-class model (the pipeline's shape, not its accuracy) and vx-infer -u
printf 'input 1 48 48\navgpool 8\nsoftmax 7\n' > tiny.arch
printf 'P5\n48 48\n255\n' > g.pgm; LC_ALL=C awk 'BEGIN { srand(7); for (i = 0; i < 2304; i++) printf "%c", 1 + int(rand() * 255) }' >> g.pgm
mkdir -p crops/happy crops/sad; cp g.pgm crops/happy/; pamflip -lr g.pgm > crops/sad/g.pgm
vx-decode crops | vx-train --arch tiny.arch --epochs 1 --batch 2 --no-augment -o tiny.vxm 2>/dev/null
[ -s tiny.vxm ]; ok $? "a tiny 7-class model to run the pipeline with"
vx-decode crops crops crops > p.in
vx-infer tiny.vxm p.in > p.vx && vx-infer -t tiny.vxm p.in > p.txt
exec 3< <({ vx-decode g.pgm; sleep 20; } | vx-infer -u -t tiny.vxm)
line=; read -t 10 -r line <&3
[[ $line == "g.pgm	-	"* ]]; ok $? "vx-infer -u: the first image's line leaves before the input ends"
exec 3<&-
vx-infer -u tiny.vxm p.in > pu.vx && [ -s p.vx ] && cmp -s pu.vx p.vx; ok $? "vx-infer -u: the same records as in batches"

# --- vx-bars
# The average by awk from vx-infer's text, against vx-bars' (to 1e-5: both print rounded values).
paste <(vx-bars -t -a 0.5 p.vx) p.txt | awk -F'\t' '{ best = 12; for (k = 12; k <= 18; k++) {
        s[k] = NR == 1 ? $k : 0.5 * $k + 0.5 * s[k]; d = s[k] - $(k - 10); if (d > 1e-5 || d < -1e-5) bad = 1; if (s[k] > s[best]) best = k }
    split("anger disgust fear happy neutral sad surprise", nm, " "); if ($9 != nm[best - 11] || $1 != $10) bad = 1 }
    END { exit bad || NR != 6 }'
ok $? "vx-bars --text: the moving average with alpha 0.5, and the top class"
[ -s p.txt ] && [ "$(vx-bars -t -a 1 p.vx | cut -f2-8)" = "$(cut -f3-9 p.txt)" ]; ok $? "vx-bars --alpha 1: the records as they are"
out=$(LC_ALL=C vx-bars -w 10 p.vx | head -9)
[ "$(echo "$out" | sed -n 2p | cut -c1-10)" = "anger     " ] && [ "$(echo "$out" | grep -c '^[a-z]* *[#.]\{10\} [01]\.[0-9]\{3\}$')" = 7 ] &&
    [ "$(echo "$out" | sed -n 9p)" = "" ] && [[ $(echo "$out" | head -1) == "crops/happy/g.pgm  "*"(1 frames)" ]]
ok $? "vx-bars on a pipe: a header, seven bars of 10 cells and a blank line per record"
LC_ALL=C.UTF-8 vx-bars -w 10 p.vx | sed -n 2,8p | grep '█' > /dev/null; ok $? "vx-bars in a UTF-8 locale: block characters"
err=$(vx-decode g.pgm | vx-bars 2>&1); [ $? = 1 ] && [ "$err" = "vx-bars: g.pgm: not a probability record (f32 [classes], as vx-infer writes)" ]
ok $? "vx-bars: an image record is refused: '$err'"
err=$(vx-bars -a 0 p.vx 2>&1); [ $? = 2 ] && [[ $err == "vx-bars: --alpha: "* ]]; ok $? "vx-bars --alpha 0: usage error: '$err'"
vx-bars --help | grep '^Usage: vx-bars' > /dev/null && vx-bars --version | grep '^vx-bars (VibeluX) ' > /dev/null; ok $? "vx-bars --help and --version"

# --- pipelines/webcam.sh on a video file and a folder of frames, and without a camera
if command -v ffmpeg >/dev/null && [ -r "$cascade" ]; then
    # Two seconds of the portrait, then one of it upside down (no face), at 5 frames a second.
    ffmpeg -hide_banner -loglevel error -nostdin -loop 1 -i "$photo" -t 2 -r 5 -pix_fmt yuv420p -c:v mpeg4 -q:v 2 up.mp4 &&
    ffmpeg -hide_banner -loglevel error -nostdin -loop 1 -i "$photo" -t 1 -r 5 -vf vflip -pix_fmt yuv420p -c:v mpeg4 -q:v 2 down.mp4 &&
    ffmpeg -hide_banner -loglevel error -nostdin -i up.mp4 -i down.mp4 -filter_complex concat=n=2 -c:v mpeg4 -q:v 2 clip.mp4
    out=$("$src/pipelines/webcam.sh" --fast --text --model tiny.vxm clip.mp4); rc=$?
    [ $rc = 0 ] && [ "$(echo "$out" | wc -l)" = 10 ] && [ "$(echo "$out" | tail -1 | cut -f1)" = "stdin:10#0" ]
    ok $? "webcam.sh on a 3 s video at 5 frames/s: 10 faces, the 5 upside-down frames skipped (rc $rc)"
    mkdir frames && ffmpeg -hide_banner -loglevel error -nostdin -i clip.mp4 -vf fps=2 frames/%03d.png
    out=$("$src/pipelines/webcam.sh" --text -m tiny.vxm frames | cut -f1 | tr '\n' ' ')
    [ "$out" = "stdin#0 stdin:2#0 stdin:3#0 stdin:4#0 " ]; ok $? "webcam.sh on a folder of 6 frames: $out"
    out=$(script -qec "$src/pipelines/webcam.sh --fast -m tiny.vxm clip.mp4" /dev/null | tr -d '\r')
    [[ $out == *"(10 frames)"* ]] && [[ $out == *$'\e[8A'* ]]; ok $? "webcam.sh on a terminal: bars redrawn in place, 10 frames at the end"
else
    for i in 1 2 3; do skip "needs ffmpeg and opencv-data"; done
fi
err=$("$src/pipelines/webcam.sh" -m tiny.vxm /dev/video-none 2>&1); rc=$?
[ $rc = 1 ] && [ "$err" = "webcam: no camera: there is no /dev/video-none; plug one in, or give a video file or a folder of frames" ]
ok $? "webcam.sh without a camera says so: '$err'"
err=$("$src/pipelines/webcam.sh" -m missing.vxm 2>&1); [ $? = 1 ] && [[ $err == "webcam: no face model at missing.vxm"* ]]
ok $? "webcam.sh without a model: '$err'"

# --- the picture
if [ -r "$cascade" ] && command -v gnuplot >/dev/null; then
    out=$("$src/pipelines/face-picture.sh" -m tiny.vxm -o pic.png "$photo"); rc=$?
    [ $rc = 0 ] && [ "$(pngtopam pic.png | pamfile)" = "stdin:	PPM raw, 960 by 420  maxval 255" ] && [[ $out == "face-picture: pic.png: face.png, "*% ]]
    ok $? "face-picture.sh: a 960x420 PNG: '$out'"
else
    skip "needs opencv-data and gnuplot"
fi
done_testing
