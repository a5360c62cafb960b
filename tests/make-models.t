#!/bin/bash
# make-models.t — when the Makefile retrains a committed model (pipelines/*.mk, the Makefile's
# model_stale): on a copy of the tree as a fresh clone has it (no data/cache, no data sets, the
# architectures and the split checked out after the models), make -n and make -q find every model
# up to date; a changed recipe (seed, epochs, options), a changed architecture, a newer training
# stream, an unfinished checkpoint or RETRAIN=1 each make `make -n MODEL` print its training.
. "$(dirname "$0")/lib.sh"
command -v perl > /dev/null || { echo "1..0 # SKIP no perl"; exit 0; }
plan 14
# The make running the suite passes its command line down; this one starts clean.
unset MAKEFLAGS MFLAGS MAKELEVEL
mkdir tree
cp -r "$src/Makefile" "$src/pipelines" "$src/lib" "$src/bin" tree/
mkdir tree/tests; cp "$src"/tests/*.mk tree/tests/
# Models first, then what they are made from, newer: the worst order a checkout can leave.
mkdir tree/models; cp "$src"/models/*.vxm tree/models/
sleep 0.01
(cd "$src" && cp --parents models/*.arch models/*/*.arch models/music/split.tsv "$tmp/tree/")
cd tree
models="models/face.vxm models/face-prototype.vxm models/verifier.vxm models/music.vxm"
vars=(BUILD=build SHARED=/nonexistent)
# trains MODEL [VAR=value...]: make -n prints MODEL's vx-train command.
trains() { local m=$1; shift; make -n "${vars[@]}" "$@" "$m" > out.txt 2>&1; grep -q "vx-train .*-o $m " out.txt; }

make -n "${vars[@]}" $models > out.txt 2>&1
ok $? "a fresh clone: make -n of the four models runs ($(tail -c 200 out.txt | tr '\n' ' '))"
[ "$(grep -vc 'is up to date' out.txt)" = 0 ]
ok $? "a fresh clone: every model is up to date, nothing to run ($(grep -v 'is up to date' out.txt | head -3 | tr '\n' ' '))"
make -q "${vars[@]}" $models
ok $? "a fresh clone: make -q of the four models says up to date"
[ ! -e data ]
ok $? "reading the Makefile made no data/cache"

trains models/music.vxm MUSIC_SEED=3
ok $? "MUSIC_SEED=3 retrains the music model"
grep -q -- "trained with '--seed 1', the recipe now says '--seed 3'" out.txt
ok $? "and says why ($(grep -m1 'trained with' out.txt))"
trains models/face.vxm FACE_EPOCHS=49
ok $? "FACE_EPOCHS=49 retrains the face model"
trains models/verifier.vxm VERIFIER_TRAIN_OPTS='--epochs 20 --seed 2'
ok $? "new VERIFIER_TRAIN_OPTS retrain the verifier"
echo '# a comment' >> models/face/prototype.arch
trains models/face-prototype.vxm
ok $? "a changed architecture file retrains its model"
make -q "${vars[@]}" models/face.vxm models/verifier.vxm models/music.vxm
ok $? "the other models stay up to date"

mkdir -p data/cache; touch data/cache/fer-Training.vxs
trains models/face.vxm
ok $? "a training stream newer than the model retrains it"
touch models/face.vxm
make -q "${vars[@]}" models/face.vxm
ok $? "touch MODEL keeps it"
touch data/cache/face.ckpt
trains models/face.vxm
ok $? "a checkpoint newer than the model (a run that did not finish) resumes it"
trains models/music.vxm RETRAIN=1
ok $? "RETRAIN=1 retrains"
done_testing
