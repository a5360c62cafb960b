#!/bin/bash
# ls.t — vx-ls on hand-written records: listing, per-class counts, and its error and usage exits.
. "$(dirname "$0")/lib.sh"
plan 9

# A u8 record [2,2] "img" labelled 3 (happy), then an unlabelled f32 record [2] "v" with rate=8.
printf 'VXTS\001\000\040\000\001\002\003\000\002\000\000\000\002\000\000\000\000\000\000\000\000\000\000\000\003\000\000\000img\000\012\024\036' > "$tmp/a"
printf 'VXTS\001\000\040\000\002\001\377\377\002\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\001\000\007\000vrate=8\n\000\000\200\077\000\000\000\300' > "$tmp/b"
cat "$tmp/a" "$tmp/b" > "$tmp/ab"

out=$(vx-ls "$tmp/ab")
[ "$out" = "$(printf 'img\thappy\tu8\t2x2\t0\t30\t15\nv\t-\tf32\t2\t-2\t1\t-0.5')" ]; ok $? "lists key, label, dtype, shape, min, max, mean"
out=$(vx-ls < "$tmp/ab") && [ "$out" = "$(vx-ls "$tmp/ab")" ] && [ "$(printf '%s\n' "$out" | wc -l)" = 2 ]; ok $? "reads standard input"
out=$(vx-ls --count "$tmp/a" "$tmp/b" "$tmp/a" | tr '\n' ' ')
[ "$out" = "anger	0 disgust	0 fear	0 happy	2 neutral	0 sad	0 surprise	0 unlabelled	1 total	3 " ]; ok $? "counts per class over several streams"

head -c 37 "$tmp/ab" > "$tmp/cut"
err=$(vx-ls "$tmp/cut" 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-ls: $tmp/cut: record 1 at byte 0: truncated payload"* ]]; ok $? "truncated stream: exit 1 and '$err'"
err=$(printf 'P5 1 1 255\n\000' | vx-ls 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-ls: stdin: record 1 at byte 0: bad magic"* ]]; ok $? "not a stream: exit 1 and '$err'"
err=$(vx-ls "$tmp/missing" 2>&1); rc=$?
[ $rc = 1 ] && [[ "$err" == "vx-ls: cannot open"* ]]; ok $? "missing file: exit 1"
vx-ls --bogus >/dev/null 2>&1; [ $? = 2 ]; ok $? "unknown option: exit 2"
vx-ls --help | grep -q '^Usage: vx-ls'; ok $? "--help"
vx-ls --version | grep -q '^vx-ls (VibeluX) '; ok $? "--version"
done_testing
