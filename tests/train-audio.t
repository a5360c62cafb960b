#!/bin/bash
# train-audio.t — vx-train's audio policy on real spectrograms (sox tones through vx-decode and
# vx-spectro): the model does not depend on the thread count with every random part on, tempo
# and pitch changes (--stretch, --band-shift), mixup and Freq-MixStyle change the model but at 0 leave it byte for
# byte as without them, and out-of-range values are usage errors.
. "$(dirname "$0")/lib.sh"
command -v sox > /dev/null || { echo "1..0 # SKIP no sox"; exit 0; }
ignore_libsox_leaks
plan 16
mkdir -p set/high set/low
for i in 1 2 3 4; do
    sox -n -r 22050 -c 1 set/high/h$i.wav synth 2.5 sine $((2000 + 300 * i)) gain -6 2>/dev/null
    sox -n -r 22050 -c 1 set/low/l$i.wav synth 2.5 square $((110 + 20 * i)) gain -12 2>/dev/null
done
vx-decode --labels high,low set | vx-spectro --mels 32 --n-fft 512 --hop 256 -o set.vxs
ok $? "four songs of each class as whole spectrograms ($(vx-ls set.vxs | head -1 | cut -f1,4))"
vx-decode --labels high,low set | vx-spectro --mels 32 --n-fft 512 --hop 256 --segment 0.743 -o segments.vxs
printf 'input 1 32 64\nconv 4 3 same\nbn\nrelu\nmaxpool 4\ngap\nsoftmax 2\n' > tiny.arch
train() { vx-train --arch "$tmp/tiny.arch" -e 2 -b 4 --augment=audio --repeat 2 --gain 3 --time-mask 8 --freq-mask 4 \
            --norm bands,segment "$@" "$tmp/set.vxs" 2> "$tmp/err.txt"; }
# train_in DIR ARGS...: trains DIR/m.vxm, so that what the model records of its command line is the same.
train_in() { local dir=$1; shift; mkdir -p "$dir" && (cd "$dir" && train "$@" -o m.vxm); }
train_in j1 --stretch 0.3 --band-shift 4 -j 1 && train_in j2 --stretch 0.3 --band-shift 4 -j 2
ok "$(cmp -s j1/m.vxm j2/m.vxm; echo $?)" "with tempo and pitch changes, 1 and 2 threads train the same bytes ($(cat err.txt))"
# The command lines differ, so the models are compared by what they answer.
# answers MODEL: the md5 of what it answers on the segments, or "failed" (never equal to another).
answers() { local out; out=$(vx-infer -t "$1" segments.vxs) && [ -n "$out" ] && md5sum <<< "$out" || echo "failed $RANDOM$1"; }
train_in plain && train_in zero --stretch 0 --band-shift 0
ok "$([ "$(answers plain/m.vxm)" = "$(answers zero/m.vxm)" ]; echo $?)" "--stretch 0 --band-shift 0 train what no option does (draws unchanged)"
a=$(answers j1/m.vxm); b=$(answers plain/m.vxm)
ok "$([[ $a != failed* && $b != failed* && $a != "$b" ]]; echo $?)" "tempo and pitch changes change the model"
train_in m1 --mixup 0.4 -j 1 && train_in m2 --mixup 0.4 -j 2 && train_in m0 --mixup 0
ok "$(cmp -s m1/m.vxm m2/m.vxm; echo $?)" "with mixup, 1 and 2 threads train the same bytes ($(cat err.txt))"
m=$(answers m1/m.vxm)
ok "$([[ $m != failed* && $m != "$b" && "$(answers m0/m.vxm)" = "$b" ]]; echo $?)" "mixup changes the model; --mixup 0 trains what no option does"
train_in s1 --mix-style 0.6 -j 1 && train_in s2 --mix-style 0.6 -j 2 && train_in s0 --mix-style 0
s=$(answers s1/m.vxm)
ok "$(cmp -s s1/m.vxm s2/m.vxm; echo $?)" "with --mix-style, 1 and 2 threads train the same bytes ($(cat err.txt))"
ok "$([[ $s != failed* && $s != "$b" && "$(answers s0/m.vxm)" = "$b" ]]; echo $?)" "--mix-style changes the model; 0 trains what no option does"
mkdir -p img/a img/b; printf 'P2\n2 2\n255\n0 9 9 0\n' > img/a/1.pgm; printf 'P2\n2 2\n255\n9 0 0 9\n' > img/b/1.pgm
vx-decode --labels a,b img -o img.vxs
printf 'input 1 2 2\nconv 2 1 same\nbn\ngap\nsoftmax 2\n' > img.arch
vx-train --arch img.arch -e 1 -b 2 --mix-style 0.5 -o img.vxm img.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q 'mix-style mixes bands of real-valued samples' err.txt && [ ! -e img.vxm ]; echo $?)" \
   "--mix-style on u8 images: exit 1, no model ($(cat err.txt))"
(train --mix-style 2 -o bad.vxm); st=$?
ok "$([ $st = 2 ] && grep -q 'mix-style: 2 is out of range \[0, 1\]' err.txt && [ ! -e bad.vxm ]; echo $?)" "--mix-style 2: exit 2, no model ($(cat err.txt))"
(train --mixup -1 -o bad.vxm); st=$?
ok "$([ $st = 2 ] && grep -q 'mixup' err.txt && [ ! -e bad.vxm ]; echo $?)" "--mixup -1: exit 2, no model ($(cat err.txt))"
(train --stretch 1.5 -o bad.vxm); st=$?
ok "$([ $st = 2 ] && grep -q 'stretch: 1.5 is out of range \[0, 1\]' err.txt; echo $?)" "--stretch 1.5: exit 2 ($(cat err.txt))"
(train --band-shift -1 -o bad.vxm); st=$?
ok "$([ $st = 2 ] && [ ! -e bad.vxm ]; echo $?)" "--band-shift -1: exit 2, no model ($(cat err.txt))"
# A model is trained on one spectrogram: records made with another hop are refused.
vx-decode --labels high,low set | vx-spectro --mels 32 --n-fft 512 --hop 128 -o other.vxs
cat set.vxs other.vxs > mixed.vxs
vx-train --arch tiny.arch -e 1 -b 4 --augment=audio -o mixed.vxm mixed.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q "has hop=128 but earlier records have 256" err.txt && [ ! -e mixed.vxm ]; echo $?)" \
   "spectrograms of two hops in one training stream: exit 1, no model ($(cat err.txt))"
# ... and so are records of another band, which the model would record wrongly for vx-embed.
vx-decode --labels high,low set | vx-spectro --mels 32 --n-fft 512 --hop 256 --fmax 6000 -o band.vxs
cat set.vxs band.vxs > bands.vxs
vx-train --arch tiny.arch -e 1 -b 4 --augment=audio -o bands.vxm bands.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q "has fmax=6000 but earlier records have 11025" err.txt && [ ! -e bands.vxm ]; echo $?)" \
   "spectrograms of two bands in one training stream: exit 1, no model ($(cat err.txt))"
vx-train --arch tiny.arch -e 1 -b 4 --augment=audio -o band.vxm band.vxs 2> err.txt
ok "$(strings -n 3 band.vxm | grep -q '^spectro_fmax6000$'; echo $?)" "a model trained on bands up to 6 kHz records spectro_fmax=6000"
done_testing
