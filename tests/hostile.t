#!/bin/bash
# hostile.t — hostile input at the command line (issue 14): model files with a data offset of 0,
# architectures asking for gigabytes (refused from the figures, --max-memory raises the limit),
# f32 input that overflows the network (refused naming the record, never NaN with exit 0).
. "$(dirname "$0")/lib.sh"
plan 25

rss() { /usr/bin/time -f %M -o rss.txt "$@"; }
# An f32 [1,8,8] record of value $2 and label $3, keyed $1.
f32() { perl -e 'my ($k, $v, $l) = @ARGV; print "VXTS", pack("vvCCvV4vv", 1, 32, 2, 3, $l, 1, 8, 8, 0, length $k, 0), $k, pack("f<", $v) x 64' "$@"; }
for i in 0 1 2 3; do f32 "r$i" 0.$i $((i % 2)); done > small.vxs
printf 'input 1 8 8\nconv 4 3 same\nrelu\nsoftmax 2\n' > tiny.arch
vx-train --arch tiny.arch -o tiny.vxm -e 1 -b 2 --no-augment small.vxs 2> err.txt
ok $? "a tiny model trains on f32 input ($(head -c 200 err.txt))"

# Defect 1: the data offset (bytes 24..31) zeroed, size and checksum fixed up.
perl -e 'local $/; my $b = <STDIN>; substr($b, 24, 8) = "\0" x 8;
  my $h = 0xcbf29ce484222325; use integer;
  for my $c (unpack "C*", substr($b, 0, -8)) { $h = ($h ^ $c) * 0x100000001b3 }
  substr($b, -8) = pack "Q<", $h; print $b' < tiny.vxm > off0.vxm
vx-infer -t off0.vxm small.vxs > out.txt 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q '^vx-infer: off0.vxm: inconsistent model header (data offset 0' err.txt && [ ! -s out.txt ]; echo $?)" \
   "vx-infer refuses a data offset of 0 ($st: $(cat err.txt))"
vx-train --arch tiny.arch --init off0.vxm -o x.vxm -e 1 -b 2 small.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q '^vx-train: --init: off0.vxm: inconsistent' err.txt && [ "$(grep -o off0.vxm err.txt | wc -l)" = 1 ]; echo $?)" \
   "vx-train --init refuses it, naming the file once ($st: $(cat err.txt))"

# Defect 2: memory from the architecture and the batch.
printf 'input 1 48 48\ndense 1000000\nsoftmax 7\n' > dense.arch
rss vx-train --arch dense.arch -o x.vxm small.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q 'needs [0-9.]* MiB.*above the memory limit of 4096 MiB (--max-memory raises it)' err.txt &&
      [ "$(tail -1 rss.txt)" -lt 100000 ]; echo $?)" "dense 1000000 refused at $(tail -1 rss.txt) kB ($st: $(cat err.txt))"
printf 'input 1 48 48\nconv 4096 3 same\nconv 4096 3 same\nsoftmax 7\n' > conv.arch
rss vx-train --arch conv.arch -o x.vxm small.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q 'needs [0-9.]* MiB' err.txt && [ "$(tail -1 rss.txt)" -lt 100000 ]; echo $?)" \
   "two conv 4096 layers refused at $(tail -1 rss.txt) kB ($st: $(cat err.txt))"
vx-train --arch tiny.arch -o x.vxm -e 1 -b 2 --max-memory 1 small.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q 'above the memory limit of 1 MiB' err.txt; echo $?)" "--max-memory 1 refuses even the tiny net ($st)"
vx-infer --max-memory 1 tiny.vxm small.vxs > /dev/null 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q '^vx-infer: .*above the memory limit of 1 MiB' err.txt; echo $?)" "vx-infer --max-memory 1 too ($st: $(cat err.txt))"
vx-infer --max-memory 0 tiny.vxm small.vxs > /dev/null 2> err.txt; st=$?
ok "$([ $st = 2 ] && grep -q 'out of range' err.txt; echo $?)" "--max-memory 0 is a usage error ($st)"
vx-infer --max-memory 64 tiny.vxm small.vxs > /dev/null 2> err.txt
ok $? "--max-memory 64 is plenty for it"

# Defect 3: 3e38 overflows the network: an error naming the record, no NaN output.
f32 huge 3e38 0 > huge.vxs
vx-infer -t tiny.vxm huge.vxs > out.txt 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q '^vx-infer: huge: ' err.txt && ! grep -qi nan out.txt; echo $?)" \
   "vx-infer -t on 3e38 refuses, naming the record ($st: $(cat err.txt))"
cat small.vxs huge.vxs > mixed.vxs
vx-train --arch tiny.arch --init tiny.vxm -o nan.vxm -e 1 -b 2 --no-augment mixed.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q 'values up to 3e+38' err.txt && [ ! -e nan.vxm ]; echo $?)" \
   "vx-train --init on 3e38 input refuses and writes no model ($st: $(cat err.txt))"
vx-train --arch tiny.arch -o nan.vxm -e 1 -b 2 --no-augment mixed.vxs 2> err.txt; st=$?
ok "$([ $st = 1 ] && grep -q 'overflow' err.txt && [ ! -e nan.vxm ]; echo $?)" \
   "vx-train on 3e38 input refuses and writes no model ($st: $(cat err.txt))"

# Defect 5: -o onto something that is not a regular file writes through it; a symlink is followed.
printf 'P2\n2 2\n255\n1 2 3 4\n' > a.pgm
mkfifo fifo
cat fifo > from-fifo & reader=$!
vx-decode a.pgm -o fifo 2> err.txt; st=$?
wait $reader
ok "$([ $st = 0 ] && [ -p fifo ] && cmp -s from-fifo <(vx-decode a.pgm); echo $?)" "-o FIFO: written through, still a FIFO ($st)"
if [ "$(id -u)" = 0 ] && mknod node c 1 3 2> /dev/null; then
    vx-decode a.pgm -o node 2> err.txt; st=$?
    ok "$([ $st = 0 ] && [ -c node ]; echo $?)" "-o a character device (mknod c 1 3): written through, still a device ($st)"
else
    skip "mknod needs root"
fi
echo old > target; ln -s target link
vx-decode a.pgm -o link; st=$?
ok "$([ $st = 0 ] && [ -L link ] && cmp -s target <(vx-decode a.pgm); echo $?)" "-o symlink: the link stays, its target is replaced ($st)"
ln -s missing dangling
vx-decode a.pgm -o dangling 2> err.txt; st=$?
ok "$([ $st = 1 ] && [ -L dangling ] && grep -q 'symbolic link to a file that does not exist' err.txt; echo $?)" \
   "-o a dangling symlink: refused, left alone ($st: $(cat err.txt))"

# Defect 6: catchable signals remove the temp file; a stale one of a dead process is removed next time.
for sig in INT TERM HUP; do
    rm -f in.fifo; mkfifo in.fifo
    # (a shell starts background commands with SIGINT ignored: perl puts the default back)
    perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' vx-infer -o out.$sig tiny.vxm in.fifo 2> /dev/null & pid=$!
    for i in $(seq 50); do ls out.$sig.vxtmp.* > /dev/null 2>&1 && break; sleep 0.1; done
    had=$(ls out.$sig.vxtmp.* 2> /dev/null | wc -l)
    kill -$sig $pid; wait $pid; st=$?
    left="$(ls out.$sig* 2> /dev/null)"
    res=$([ "$had" = 1 ] && [ -z "$left" ] && [ $st = $((128 + $(kill -l $sig))) ]; echo $?)
    [ "$sig" = INT ] && res_int=$res
    [ "$sig" = TERM ] && res_term=$res
    [ "$sig" = HUP ] && res_hup=$res
done
ok "$((res_int + res_term + res_hup))" "SIGINT, SIGTERM and SIGHUP during vx-infer -o out MODEL fifo leave no out.vxtmp.* and kill with the signal"
touch out.vxtmp.2147483646.AbCdEf
vx-decode a.pgm -o out
ok "$([ ! -e out.vxtmp.2147483646.AbCdEf ] && [ -s out ]; echo $?)" "a stale temp file of a process that is gone is removed by the next -o to the same path"

# Defect 7: messages on the contract.
for p in vx-infer vx-train vx-ls vx-decode vx-facecrop vx-topng vx-bars vx-spectro vx-embed vx-match vx-index vx-adapt; do $p --bogus < /dev/null; echo "st=$?"; done > opt.txt 2>&1
ok "$([ "$(grep -c "^vx-[a-z]*: unknown option '--bogus' (see --help)$" opt.txt)" = 12 ] && [ "$(grep -c '^st=2$' opt.txt)" = 12 ] &&
      ! grep -q / opt.txt; echo $?)" "an unknown option: 'vx-name: unknown option', exit 2, no path ($(head -1 opt.txt))"
vx-train -b 2> err.txt; st=$?
ok "$([ $st = 2 ] && grep -qx "vx-train: option '-b' needs a value (see --help)" err.txt; echo $?)" "a missing value ($(cat err.txt))"
vx-ls --count=yes < /dev/null 2> err.txt; st=$?
ok "$([ $st = 2 ] && grep -qx "vx-ls: option '--count' takes no value (see --help)" err.txt; echo $?)" "a value given to an option without one ($(cat err.txt))"
vx-train --arch tiny.arch -o x.vxm --class-weights 1,2,3 small.vxs 2> e1.txt; s1=$?
vx-train --arch tiny.arch -o x.vxm --class-weights nan,1 small.vxs 2> e2.txt; s2=$?
vx-train --arch tiny.arch -o x.vxm --class-weights -1,1 small.vxs 2> e3.txt; s3=$?
ok "$([ $s1$s2$s3 = 222 ] && grep -q '3 weights given, the network has 2 classes' e1.txt && grep -q 'weight 1: nan is out of range' e2.txt &&
      grep -q 'weight 1: -1 is out of range' e3.txt; echo $?)" "--class-weights: count, NaN and negative weights ($(cat e1.txt e2.txt e3.txt | tr '\n' ' '))"
vx-facecrop --verifier none --min-size 10x < /dev/null 2> err.txt; st=$?
ok "$([ $st = 2 ] && grep -q "'10x' is not N or NxM" err.txt; echo $?)" "--min-size 10x ($(cat err.txt))"

# Defect 9: vx-ls escapes keys; vx-facecrop takes an empty file as an empty stream.
perl -e 'print "VXTS", pack("vvCCvV4vv", 1, 32, 1, 1, 0xffff, 1, 0, 0, 0, 6, 0), "a\tb\nc\\", "\0"' > keys.vxs
ok "$([ "$(vx-ls -q keys.vxs)" = "$(printf 'a\\tb\\nc\\\\\t-\tu8\t1')" ]; echo $?)" "vx-ls escapes tab, newline and backslash in keys: $(vx-ls -q keys.vxs)"
: > empty
vx-facecrop --verifier none empty > out.vxs 2> err.txt; st=$?
ok "$([ $st = 0 ] && [ ! -s out.vxs ]; echo $?)" "vx-facecrop: an empty file is an empty stream ($st $(cat err.txt))"
done_testing
