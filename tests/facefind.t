#!/bin/bash
# facefind.t — vx-facecrop's default detector: the cascade on a padded image, candidates checked by
# the committed verifier (models/verifier.vxm), ranked by evidence. Faces that fill the frame (a
# tight crop, a 48x48 FER-sized face) are found where OpenCV finds none; unpadded and unverified
# it is OpenCV's detector; the threshold, the verifier's errors and a missing verifier.
. "$(dirname "$0")/lib.sh"
plan 15

photo=$src/data/samples/face.png
cascade=/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml
if [ ! -r "$cascade" ]; then
    for i in $(seq 15); do skip "no $cascade (apt-get install opencv-data)"; done
    done_testing
fi
pngtopam "$photo" | ppmtopgm > face.pgm
pamcut -left 90 -top 76 -width 80 -height 80 face.pgm > tight.pgm    # the face fills the frame
pamscale -xsize 48 -ysize 48 tight.pgm > fer.pgm                      # and at FER's size

out=$(vx-facecrop -t face.pgm); set -- $out
[ $# = 6 ] && [ $2 -ge 70 ] && [ $2 -le 90 ] && [ $4 -ge 85 ] && [ $4 -le 110 ]; ok $? "the sample portrait: '$out'"
vx-facecrop face.pgm > f.vx; score=$(grep -ao 'score=[0-9.]*' f.vx | cut -d= -f2)
awk -v s="$score" 'BEGIN { exit !(s >= 0.5 && s <= 1) }'; ok $? "its crop's metadata: score=$score"
[ "$(vx-ls -q f.vx | cut -f1,4)" = "$(printf 'face.pgm#0\t1x48x48')" ]; ok $? "a 48x48 crop keyed face.pgm#0"

out=$(vx-facecrop --opencv -t --allow-none tight.pgm)
[ -z "$out" ]; ok $? "a face filling the frame: OpenCV finds nothing"
out=$(vx-facecrop -t tight.pgm); set -- $out
[ $# = 6 ] && [ $2 -le 0 ] && [ $4 -ge 80 ]; ok $? "the padded detector finds it, its box reaching past the edges: '$out'"
out=$(vx-facecrop -t fer.pgm); set -- $out
[ $# = 6 ] && [ $4 -ge 40 ]; ok $? "the same at 48x48: '$out'"

# Unpadded and unverified, with OpenCV's neighbours, it is OpenCV's detector (as a set of boxes).
pnmscale 0.6 face.pgm > small.pgm
pnmcat -lr -jtop face.pgm small.pgm > two.pgm
mine=$(vx-facecrop -t --all --pad 0 --verifier none -n 5 two.pgm | sort) && theirs=$(vx-facecrop --opencv -t --all two.pgm | sort) &&
  [ -n "$mine" ] && [ "$mine" = "$theirs" ]
ok $? "--pad 0 --verifier none -n 5: OpenCV's boxes ($(echo $mine))"
[ "$(vx-facecrop -t --all two.pgm | wc -l)" = 2 ]; ok $? "two faces side by side: both found"
strengths=$(vx-facecrop -t --all --verifier none two.pgm | awk '{ print $6 }' | tr '\n' ' ')
[ "$(echo $strengths | tr ' ' '\n' | sort -rn | tr '\n' ' ')" = "$strengths" ] && [ $(echo $strengths | wc -w) -ge 2 ]
ok $? "unverified candidates come strongest first (strengths $strengths)"

err=$(vx-facecrop -t --threshold 1 face.pgm 2>&1); [ $? = 1 ] && [ "$err" = "vx-facecrop: face.pgm: no face found" ]
ok $? "--threshold 1: the verifier rejects the face: '$err'"
err=$(vx-facecrop --verifier missing.vxm face.pgm 2>&1); [ $? = 1 ] && [[ $err == "vx-facecrop: "*missing.vxm* ]]
ok $? "a missing verifier file: '$err'"
err=$(vx-facecrop --threshold 2 face.pgm 2>&1); [ $? = 2 ] && [[ $err == "vx-facecrop: --threshold: "* ]]; ok $? "--threshold 2: '$err'"
err=$(vx-facecrop --pad 3 face.pgm 2>&1); [ $? = 2 ] && [[ $err == "vx-facecrop: --pad: "* ]]; ok $? "--pad 3: '$err'"
# Away from the source tree and with nothing installed, there is no verifier to find.
mkdir -p lone/bin && cp "$(command -v vx-facecrop)" lone/bin/
err=$(lone/bin/vx-facecrop face.pgm 2>&1); [ $? = 1 ] && [[ $err == "vx-facecrop: no face verifier"* ]]; ok $? "no verifier: '$err'"
lone/bin/vx-facecrop --opencv -t face.pgm > /dev/null; ok $? "... while --opencv needs none"
done_testing
