#!/bin/bash
# nn.t — vx-train and vx-infer end to end on a small synthetic data set made here (8x8 PGM
# images of three patterns): learning, every output form, resume after kill -9, bad input.
. "$(dirname "$0")/lib.sh"
plan 31

# Class a: bright top half; b: bright left half; c: bright centre. Noise from awk's seeded rand.
awk 'BEGIN {
  srand(7)
  for (k = 0; k < 3; k++) {
    cls = substr("abc", k + 1, 1); system("mkdir -p set/" cls)
    for (i = 0; i < 40; i++) {
      f = sprintf("set/%s/%03d.pgm", cls, i); print "P2\n8 8\n255" > f
      for (y = 0; y < 8; y++) { line = ""
        for (x = 0; x < 8; x++) {
          on = (k == 0) ? y < 4 : (k == 1) ? x < 4 : (x >= 2 && x < 6 && y >= 2 && y < 6)
          line = line " " int((on ? 150 : 40) + rand() * 80) }
        print line > f }
      close(f) } } }'
vx-decode --labels a,b,c set -o set.vxs
cat > tiny.arch <<'EOF'
input 1 8 8
conv 8 3 same
bn
relu
maxpool 2
dense 16
relu
softmax 3
EOF
train() { vx-train --arch tiny.arch --epochs 12 --batch 16 --lr 0.01 --no-augment --seed 3 "$@" set.vxs; }

train -o a.vxm --val set.vxs --log a.tsv --best best.vxm 2> err.txt
ok $? "vx-train runs ($(head -c 200 err.txt))"
ok "$( [ "$(wc -l < a.tsv)" = 13 ] && head -1 a.tsv | grep '^epoch	train_loss	train_acc	val_loss	val_acc	seconds	images_per_s$' > /dev/null; echo $?)" \
   "--log: a header and one line per epoch"
# The loss trajectory of this seeded run, recorded once: a change that alters training shows up
# here even when the model still learns (5% of each value, plus 1e-4 for the tiny late ones).
want="0.65842 0.03280 0.00320 0.00141 0.00089 0.00063 0.00047 0.00046 0.00038 0.00039 0.00036 0.00037"
got=$(awk -F'\t' 'NR > 1 { printf "%s ", $2 }' a.tsv)
awk -v want="$want" -v got="$got" 'BEGIN { n = split(want, w, " "); m = split(got, g, " "); if (m != n) exit 1
    for (i = 1; i <= n; i++) { d = g[i] - w[i]; if (d < 0) d = -d; if (d > 0.05 * w[i] + 1e-4) exit 1 } }'
ok $? "the training loss follows its recorded trajectory: $got"
vx-infer --eval a.vxm set.vxs > eval.txt
acc=$(tail -1 eval.txt | awk -F'\t' '$1 == "accuracy" { print $2 }')
ok "$(awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.95) }'; echo $?)" "--eval: learned the patterns, last line accuracy $acc"
ok "$(grep -c '^[abc]	' eval.txt | grep -qx 3; echo $?)" "--eval: a 3x3 confusion matrix with recall, rows named by the stream's classes"
vx-infer --text a.vxm set.vxs > text.txt
ok "$(awk -F'\t' 'NF != 5 || $1 !~ /^set\/[abc]\/[0-9]+\.pgm$/ { bad = 1 } END { exit bad || NR != 120 }' text.txt; echo $?)" \
   "--text: key, label and 3 probabilities for each of 120 images"
vx-infer a.vxm set.vxs | vx-ls > ls.txt
ok "$(awk -F'\t' '$3 != "f32" || $4 != "3" { bad = 1 } END { exit bad || NR != 120 }' ls.txt; echo $?)" \
   "default output: f32 [3] probability records, keys kept"
vx-infer --flip --batch 7 --eval a.vxm set.vxs > /dev/null
ok $? "--flip with an odd batch size"
vx-infer --batch 1 --text a.vxm set.vxs > text1.txt
ok "$(cmp -s text.txt text1.txt; echo $?)" "batch 1 and batch 64 give identical probabilities"

# Views recorded at training time are how vx-infer runs the model unless told otherwise.
train -o v.vxm --views shift=1,flip 2> /dev/null
vx-infer --text v.vxm set.vxs > v.txt; a=$?; vx-infer --text --views flip,shift=1 a.vxm set.vxs > af.txt; b=$?
ok "$([ $a$b = 00 ] && [ "$(wc -l < v.txt)" = 120 ] && cmp -s v.txt af.txt && ! cmp -s v.txt text.txt; echo $?)" \
   "vx-train --views: the model runs with its views (flip,shift=1) by default"
ok "$(vx-infer --text --views none v.vxm set.vxs > vn.txt && cmp -s vn.txt text.txt; echo $?)" "vx-infer --views none: a single view"
vx-infer --views flip,shift=0 a.vxm set.vxs > /dev/null 2> err.txt
ok "$( [ $? = 2 ] && grep -q "^vx-infer: --views: views 'flip,shift=0': 'shift=0' is not flip or shift=N" err.txt; echo $?)" \
   "vx-infer: bad --views is a usage error"
vx-train --arch tiny.arch --views mirror -o z.vxm set.vxs 2> err.txt
ok "$( [ $? = 2 ] && grep -q -- '--views' err.txt && [ ! -e z.vxm ]; echo $?)" "vx-train: bad --views is a usage error, no model written"

# Same seed, same model, whatever the thread count (in twin directories: same recorded arguments).
mkdir t1 t2 && ln -s ../set.vxs ../tiny.arch t1 && ln -s ../set.vxs ../tiny.arch t2
(cd t1 && train -o m.vxm --threads 1 2> /dev/null) && (cd t2 && train -o m.vxm --threads 2 2> /dev/null)
ok "$(cmp -s t1/m.vxm t2/m.vxm; echo $?)" "1 and 2 threads write byte-identical models"
cp t1/m.vxm b.vxm

# A layer Winograd's algorithm takes (64 channels at 8x8): training by it and by --direct-conv
# follow the same losses (to 0.5% of each, plus 1e-4: rounding apart, the same arithmetic),
# and its models stay byte-identical on 1 and 2 threads and batch-independent at inference.
printf 'input 1 8 8\nconv 64 3 same\nbn\nrelu\nconv 64 3 same\nbn\nrelu\nmaxpool 2\ndense 16\nrelu\nsoftmax 3\n' > wide.arch
wide() { vx-train --arch wide.arch --epochs 4 --batch 16 --lr 0.01 --no-augment --seed 3 "$@" set.vxs; }
for d in w1 w2 wd; do mkdir $d && ln -s ../set.vxs ../wide.arch $d; done
(cd w1 && wide -o m.vxm --threads 1 --log l.tsv 2> /dev/null) && (cd w2 && wide -o m.vxm --threads 2 --log l.tsv 2> /dev/null) &&
  (cd wd && wide -o m.vxm --direct-conv --log l.tsv 2> /dev/null)
ok "$(cmp -s w1/m.vxm w2/m.vxm; echo $?)" "Winograd layers: 1 and 2 threads write byte-identical models"
fast=$(awk -F'\t' 'NR > 1 { printf "%s ", $2 }' w1/l.tsv); direct=$(awk -F'\t' 'NR > 1 { printf "%s ", $2 }' wd/l.tsv)
awk -v a="$fast" -v b="$direct" 'BEGIN { n = split(a, x, " "); if (n != 4 || split(b, y, " ") != n) exit 1
    for (i = 1; i <= n; i++) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > 0.005 * y[i] + 1e-4) exit 1 } }'
ok $? "Winograd and --direct-conv training: the same losses to rounding ($fast/ $direct)"
vx-infer --text w1/m.vxm set.vxs > w64.txt && vx-infer --batch 1 --text w1/m.vxm set.vxs > w1.txt
ok "$(cmp -s w64.txt w1.txt; echo $?)" "Winograd layers: batch 1 and batch 64 give identical probabilities"
vx-train --arch wide.arch --direct-conv=yes -o z.vxm set.vxs 2> err.txt
ok "$( [ $? = 2 ] && grep -q -- "option '--direct-conv' takes no value" err.txt && [ ! -e z.vxm ]; echo $?)" "vx-train: --direct-conv takes no value, a usage error, no model written"

# Killed with -9 once a checkpoint exists, then resumed: the same model as one straight run of the
# same command (each in its own directory, so the recorded arguments are the same too).
mkdir straight resumed && ln -s ../set.vxs ../tiny.arch straight && ln -s ../set.vxs ../tiny.arch resumed
(cd straight && train -o m.vxm --checkpoint ck.vxc --resume --log l.tsv 2> /dev/null)
cd resumed
train -o m.vxm --checkpoint ck.vxc --resume --log l.tsv 2> /dev/null & pid=$!
for i in $(seq 200); do [ -e ck.vxc ] && break; sleep 0.01; done
kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
train -o m.vxm --checkpoint ck.vxc --resume --log l.tsv 2> /dev/null
cd ..
ok "$(cmp -s straight/m.vxm resumed/m.vxm && [ "$(wc -l < resumed/l.tsv)" = 13 ]; echo $?)" \
   "resumed after kill -9: identical model, complete log"

# Under a constant learning rate, a finished run resumed with more epochs ends where one longer
# run of the final command does (how the prototype's 30 epochs were extended to 50). The log
# gets a line for epoch 5 first, as a kill after epoch 5 was logged but not yet checkpointed
# leaves it: the resumed run cuts it and writes its own.
const() { train --schedule constant --warmup 0 --checkpoint ck.vxc --resume --log l.tsv "$@" 2> /dev/null; }
mkdir longer extended && ln -s ../set.vxs ../tiny.arch longer && ln -s ../set.vxs ../tiny.arch extended
(cd longer && const -o m.vxm --epochs 8) && (cd extended && const -o m.vxm --epochs 4 &&
  printf '5\t9.99999\t0.00000\t0.00000\t0.00000\t0.1\t1.0\n' >> l.tsv && const -o m.vxm --epochs 8)
ok "$(cmp -s longer/m.vxm extended/m.vxm && cmp -s <(cut -f1-5 longer/l.tsv) <(cut -f1-5 extended/l.tsv) &&
      [ "$(wc -l < extended/l.tsv)" = 9 ] && grep -aq -- '--epochs 8 set.vxs' extended/m.vxm; echo $?)" \
   "--resume with more epochs: the model of one longer run, recorded with the final command"

# Fine-tuning from a model: its weights and normalisation, and only the same architecture.
printf 'input 1 9 9\nconv 2 3 same\nsoftmax 3\n' > wide.arch
train -o f.vxm --init a.vxm --epochs 2 --lr 0.001 2> /dev/null && vx-infer --eval f.vxm set.vxs > evalf.txt
ok "$(tail -1 evalf.txt | awk -F'\t' '$1 == "accuracy" { a = $2 } END { exit !(a >= 0.95) }'; echo $?)" \
   "--init: fine-tuned model still right ($(tail -1 evalf.txt))"
vx-train --arch wide.arch --init a.vxm -o g.vxm set.vxs 2> err.txt
ok "$( [ $? = 1 ] && grep -q 'was not built from wide.arch' err.txt; echo $?)" "--init: another architecture refused"

# Random erasing: with augmentation, --erase 0 gives the same weights as no option (the recorded
# arguments differ, so compare predictions); --erase 1 different ones that still learn.
aug() { vx-train --arch tiny.arch --epochs 12 --batch 16 --lr 0.01 --augment --seed 3 "$@" set.vxs 2> /dev/null; }
aug -o e0.vxm && aug -o e1.vxm --erase 0 && aug -o e2.vxm --erase 1
for m in e0 e1 e2; do vx-infer --text $m.vxm set.vxs > $m.txt; done
ok "$([ "$(wc -l < e0.txt)" = 120 ] && cmp -s e0.txt e1.txt; echo $?)" "--erase 0 changes nothing"
ok "$( ! cmp -s e0.txt e2.txt && vx-infer --eval e2.vxm set.vxs | tail -1 | awk -F'\t' '$1 == "accuracy" { a = $2 } END { exit !(a >= 0.8) }'; echo $?)" \
   "--erase 1 trains a different model that still learns"

# Errors.
vx-decode --labels a,b,c --limit 2 set > few.vxs
vx-train --arch wide.arch -o x.vxm few.vxs 2> err.txt
ok "$( [ $? = 1 ] && grep -q 'images are 1x8x8 but the network takes 1x9x9' err.txt; echo $?)" "vx-train: wrong image shape"
vx-infer b.vxm <(vx-decode --limit 1 --unlabelled set | head -c 10) > /dev/null 2> err.txt
ok "$( [ $? = 1 ] && grep -q 'truncated' err.txt; echo $?)" "vx-infer: truncated stream"
mkdir -p nine/a && { echo 'P2 9 9 255'; for i in $(seq 81); do echo $i; done; } > nine/a/x.pgm
vx-decode --labels a nine > nine.vxs
vx-infer a.vxm nine.vxs > out.vxs 2> err.txt
ok "$( [ $? = 1 ] && grep -q "record 'nine/a/x.pgm' has shape \[1x9x9\], the model wants \[1x8x8\]" err.txt; echo $?)" \
   "vx-infer: wrong shape names the key"
vx-decode --f32 --labels a,b,c --limit 2 set > nan.vxs
k=$(od -An -tu2 -j28 -N2 nan.vxs); m=$(od -An -tu2 -j30 -N2 nan.vxs)
printf '\000\000\300\177' | dd of=nan.vxs bs=1 seek=$((32 + k + m + 8)) conv=notrunc 2> /dev/null
vx-train --arch tiny.arch -o n.vxm nan.vxs 2> err.txt
ok "$( [ $? = 1 ] && grep -q "set/a/000.pgm: element 2 is NaN" err.txt; echo $?)" "vx-train: NaN in the input names the record"
head -c 100 b.vxm > cut.vxm
vx-infer cut.vxm set.vxs > /dev/null 2> err.txt
ok "$( [ $? = 1 ] && grep -q 'truncated' err.txt; echo $?)" "vx-infer: truncated model refused"
vx-train --arch tiny.arch --lr 0 -o z.vxm set.vxs 2> err.txt
ok "$( [ $? = 2 ] && grep -q -- '--lr' err.txt; echo $?)" "vx-train: a bad option value is a usage error"
vx-train --arch tiny.arch --erase 1.5 -o z.vxm set.vxs 2> err.txt
ok "$( [ $? = 2 ] && grep -q -- '--erase' err.txt && [ ! -e z.vxm ]; echo $?)" "vx-train: --erase above 1 is a usage error, no model written"
done_testing
