#!/bin/bash
# adapt.t — vx-adapt end to end: a model trained on one kind of image, adapted to images of lower
# contrast on a brighter ground (the same three patterns), classifies them better than before;
# the sample, the model it writes, and every bad input.
. "$(dirname "$0")/lib.sh"
plan 12

# Patterns as in nn.t (a: bright top half; b: bright left half; c: bright centre). In `dim`,
# the pattern is 40 levels above a ground of 120 instead of 110 above 40.
patterns() { # DIR ON OFF NOISE
awk -v dir="$1" -v on="$2" -v off="$3" -v noise="$4" 'BEGIN {
  srand(7)
  for (k = 0; k < 3; k++) {
    cls = substr("abc", k + 1, 1); system("mkdir -p " dir "/" cls)
    for (i = 0; i < 40; i++) {
      f = sprintf("%s/%s/%03d.pgm", dir, cls, i); print "P2\n8 8\n255" > f
      for (y = 0; y < 8; y++) { line = ""
        for (x = 0; x < 8; x++) {
          lit = (k == 0) ? y < 4 : (k == 1) ? x < 4 : (x >= 2 && x < 6 && y >= 2 && y < 6)
          line = line " " int((lit ? on : off) + rand() * noise) }
        print line > f }
      close(f) } } }'
}
patterns set 150 40 80 && patterns dim 150 120 30
vx-decode --labels a,b,c set -o set.vxs && vx-decode --labels a,b,c dim -o dim.vxs
printf 'input 1 8 8\nconv 8 3 same\nbn\nrelu\nmaxpool 2\nconv 8 3 same\nbn\nrelu\ngap\nsoftmax 3\n' > tiny.arch
vx-train --arch tiny.arch --epochs 12 --batch 16 --lr 0.01 --no-augment --seed 3 -o m.vxm set.vxs 2> err.txt
ok $? "a model trained on set ($(head -c 200 err.txt))"

acc() { vx-infer --eval "$@" | awk -F'\t' '$1 == "accuracy" { a = $2 } END { print a + 0 }'; }
before=$(acc m.vxm dim.vxs)
vx-decode --unlabelled dim | vx-adapt -m m.vxm -o a.vxm 2> err.txt
ok "$([ $? = 0 ] && [ ! -s err.txt ]; echo $?)" "vx-adapt reads unlabelled records from standard input, quietly in a pipe"
after=$(acc a.vxm dim.vxs)
ok "$(awk -v b="$before" -v a="$after" 'BEGIN { exit !(a >= 0.9 && a > b + 0.1) }'; echo $?)" \
   "adapted to the dim images: accuracy on them $before before, $after after"
ok "$(grep -aq 'adapted_inputs.\{0,1\}120' a.vxm && vx-infer --eval a.vxm set.vxs > /dev/null; echo $?)" \
   "the adapted model records adapted_inputs (120) and still runs"
ok "$(cmp -s <(vx-infer --text m.vxm set.vxs) <(vx-adapt -m m.vxm -o - set.vxs > b.vxm && vx-infer --text b.vxm set.vxs) && echo 1 || echo 0)" \
   "adapted to its own training images, the model's probabilities change (running averages become exact statistics)"
vx-adapt -m m.vxm -o s1.vxm -n 16 dim.vxs && vx-adapt -m m.vxm -o s2.vxm -n 16 --threads 1 dim.vxs && vx-adapt -m m.vxm -o s3.vxm -n 16 --seed 9 dim.vxs
ok "$(cmp -s s1.vxm s2.vxm && ! cmp -s s1.vxm s3.vxm && ! cmp -s s1.vxm a.vxm; echo $?)" \
   "a sample of 16: the same model on any number of threads, another with another seed"

# Bad input: nothing written.
vx-adapt -m m.vxm -o x.vxm <(head -c 300 dim.vxs) 2> err.txt
ok "$( [ $? = 1 ] && grep -q '^vx-adapt: .*truncated' err.txt && [ ! -e x.vxm ]; echo $?)" "a truncated stream: exit 1, no model ($(cat err.txt))"
mkdir -p nine/a && { echo 'P2 9 9 255'; for i in $(seq 81); do echo $i; done; } > nine/a/x.pgm
vx-decode --labels a nine | vx-adapt -m m.vxm -o x.vxm 2> err.txt
ok "$( [ $? = 1 ] && grep -q "shape \[1x9x9\], the model wants \[1x8x8\]" err.txt && [ ! -e x.vxm ]; echo $?)" "another shape: exit 1 ($(cat err.txt))"
vx-decode set/a/000.pgm | vx-adapt -m m.vxm -o x.vxm 2> err.txt
ok "$( [ $? = 1 ] && grep -q 'at least 2' err.txt && [ ! -e x.vxm ]; echo $?)" "one record is too few ($(cat err.txt))"
rm -f x.vxm; head -c 200 m.vxm > cut.vxm
vx-adapt -m cut.vxm -o x.vxm set.vxs 2> err.txt
ok "$( [ $? = 1 ] && grep -q 'truncated' err.txt && [ ! -e x.vxm ]; echo $?)" "a truncated model refused"
rm -f x.vxm; vx-adapt -o x.vxm set.vxs 2> e1.txt; s1=$?; vx-adapt -m m.vxm -o x.vxm -n 1 set.vxs 2> e2.txt; s2=$?
ok "$([ $s1$s2 = 22 ] && grep -q -- '-m MODEL' e1.txt && grep -q -- '--sample' e2.txt && [ ! -e x.vxm ]; echo $?)" \
   "usage errors: no model, a sample of 1 ($(cat e1.txt e2.txt | tr '\n' ' '))"
vx-adapt --help | grep -q '^Usage: vx-adapt' && vx-adapt --version | grep -q '^vx-adapt (VibeluX) '; ok $? "--help and --version"
done_testing
