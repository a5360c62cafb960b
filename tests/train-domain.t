#!/bin/bash
# train-domain.t — vx-train --domain (domain-adversarial training) on real spectrograms: sox tones
# labelled high and low, and an unlabelled "other domain" of the same pitches in other timbres.
# The model does not depend on the thread count, a resumed run trains what an uninterrupted one
# does, the head's accuracy is shown, and what it cannot train on is refused with the reason.
. "$(dirname "$0")/lib.sh"
command -v sox > /dev/null || { echo "1..0 # SKIP no sox"; exit 0; }
ignore_libsox_leaks
plan 11
mkdir -p set/high set/low other
for i in 1 2 3 4; do
    sox -n -r 22050 -c 1 set/high/h$i.wav synth 2.5 sine $((2000 + 300 * i)) gain -6 2>/dev/null
    sox -n -r 22050 -c 1 set/low/l$i.wav synth 2.5 square $((110 + 20 * i)) gain -12 2>/dev/null
    sox -n -r 22050 -c 1 other/o$i.wav synth 3 triangle $((2100 + 300 * i)) synth 3 sawtooth amod 7 gain -9 2>/dev/null
    sox -n -r 22050 -c 1 other/p$i.wav synth 3 pinknoise lowpass $((300 + 50 * i)) gain -3 2>/dev/null
done
spectro() { vx-spectro --mels 32 --n-fft 512 --hop 256 "$@"; }
vx-decode --labels high,low set | spectro -o set.vxs && vx-decode other/*.wav | spectro -o other.vxs
ok $? "the training set and an unlabelled other domain ($(vx-ls other.vxs | wc -l) songs)"
vx-decode --labels high,low set | spectro --segment 0.743 -o segments.vxs
printf 'input 1 32 64\nconv 4 3 same\nbn\nrelu\nmaxpool 4\ngap\nsoftmax 2\n' > tiny.arch
train() { vx-train --arch "$tmp/tiny.arch" -e 3 -b 4 --augment=audio --repeat 2 --gain 3 --time-mask 8 \
            --norm bands,segment "$@" "$tmp/set.vxs" 2> "$tmp/err.txt"; }
train_in() { local dir=$1; shift; mkdir -p "$dir" && (cd "$dir" && train "$@" -o m.vxm); }
answers() { local out; out=$(vx-infer -t "$1" segments.vxs) && [ -n "$out" ] && md5sum <<< "$out" || echo "failed $RANDOM$1"; }

train_in j1 --domain "$tmp/other.vxs" -j 1 --progress && train_in j2 --domain "$tmp/other.vxs" -j 2
ok "$(cmp -s j1/m.vxm j2/m.vxm; echo $?)" "with --domain, 1 and 2 threads train the same bytes"
(cd j1 && train --domain "$tmp/other.vxs" -j 1 --progress -o m.vxm)
ok "$(grep -Eq 'epoch 3/3 .* domain_acc (0|1)\.[0-9]{3} ' err.txt; echo $?)" \
   "--progress shows the domain head's accuracy ($(grep 'epoch 3/3' err.txt))"
train_in plain
a=$(answers plain/m.vxm); b=$(answers j1/m.vxm)
ok "$([[ $a != failed* && $b != failed* && $a != "$b" ]]; echo $?)" "the other domain changes the model"
# Killed with -9 once a checkpoint exists, then resumed (the head's weights and moments from the
# checkpoint): the model of one straight run of the same command, each in its own directory.
long() { train --domain "$tmp/other.vxs" -e 12 --checkpoint ck.vxc --resume -o m.vxm; }
mkdir -p straight resumed && (cd straight && long)
cd resumed
long & pid=$!
for i in $(seq 500); do [ -e ck.vxc ] && break; sleep 0.01; done
kill -9 $pid 2> /dev/null; wait $pid 2> /dev/null
long
cd "$tmp"
ok "$(cmp -s straight/m.vxm resumed/m.vxm; echo $?)" "killed with -9 and resumed: the model of a straight run"
(cd resumed && train --checkpoint plain.ckpt -e 1 -o first.vxm &&
               train --domain "$tmp/other.vxs" -e 3 --checkpoint plain.ckpt --resume -o bad.vxm); st=$?
ok "$([ $st = 1 ] && grep -q "domain head's params is missing" err.txt && [ ! -e resumed/bad.vxm ]; echo $?)" \
   "a checkpoint of training without --domain, resumed with it: exit 1, no model ($(cat err.txt))"

mkdir -p img/a img/b; printf 'P2\n2 2\n255\n0 9 9 0\n' > img/a/1.pgm; printf 'P2\n2 2\n255\n9 0 0 9\n' > img/b/1.pgm
vx-decode --labels a,b img -o img.vxs
(train --domain img.vxs -o bad.vxm); st=$?
ok "$([ $st = 1 ] && grep -q "must be real-valued" err.txt && [ ! -e bad.vxm ]; echo $?)" \
   "an other domain of u8 images: exit 1, no model ($(cat err.txt))"
vx-decode other/*.wav | spectro --hop 128 -o hop128.vxs
(train --domain hop128.vxs -o bad.vxm); st=$?
ok "$([ $st = 1 ] && grep -q "made as the training set's are" err.txt && [ ! -e bad.vxm ]; echo $?)" \
   "an other domain of another hop: exit 1, no model ($(cat err.txt))"
printf 'input 1 32 64\nconv 4 3 same\nbn\nrelu\nmaxpool 4\ndense 8\nsoftmax 2\n' > nogap.arch
vx-train --arch nogap.arch -e 1 -b 4 --augment=audio --domain other.vxs -o bad.vxm set.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q "needs a gap layer" err.txt && [ ! -e bad.vxm ]; echo $?)" \
   "a network without a gap layer: exit 1, no model ($(cat err.txt))"
(train --domain other.vxs --mixup 0.4 -o bad.vxm); st=$?
ok "$([ $st = 2 ] && grep -q "does not combine with --mixup" err.txt && [ ! -e bad.vxm ]; echo $?)" \
   "--domain with --mixup: exit 2, no model ($(cat err.txt))"
(train --domain other.vxs --domain-weight -1 -o bad.vxm); st=$?
ok "$([ $st = 2 ] && grep -q "domain-weight" err.txt && [ ! -e bad.vxm ]; echo $?)" \
   "--domain-weight -1: exit 2, no model ($(cat err.txt))"
done_testing
