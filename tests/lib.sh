# lib.sh — sourced by the shell tests: a TAP plan, ok/skip, a private temporary directory that is
# removed on exit (the test runs inside it), and the payload of a stream's first record.
# Usage: . "$(dirname "$0")/lib.sh"; plan N; ...; done_testing
# Pipelines fail when any stage does, so a check on a pipeline's status can fail.
set -u -o pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
n=0; fail=0

plan() { echo "1..$1"; }
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
done_testing() { exit $fail; }

# libsox 14.4.2 leaks in its Ogg Vorbis reader and when an MP3 fails to open (the sox command leaks
# the same): under the sanitizer build, memory from libsox's own allocator is not counted.
ignore_libsox_leaks() {
    echo 'leak:lsx_realloc' > "$tmp/lsan.supp"
    export LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
}

# The payload bytes of the first record of stream file $1: after the 32-byte header, key and metadata.
payload() {
    local head=$((32 + $(od -An -tu2 -j28 -N2 "$1") + $(od -An -tu2 -j30 -N2 "$1")))
    tail -c +$((head + 1)) "$1"
}
