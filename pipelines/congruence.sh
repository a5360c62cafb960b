#!/bin/bash
# congruence.sh — how well playlists fit faces, where no data set says which song is right for a
# face: of each face's top songs, the share from the quadrant its true emotion belongs in (the
# `face EMOTION QUADRANT` lines of the emotion space: happy Q1; anger, disgust, fear Q2; sad Q3;
# neutral Q4), per emotion and as their macro average. Faces whose emotion has no quadrant
# (surprise) are not counted.
set -euo pipefail
usage="Usage: pipelines/congruence.sh MATCHES SONGS SPACE [--per-quadrant]
MATCHES: vx-match --text lines (query key, rank, score, song path, ...), the query key being the
face's path, whose folder names its true emotion (FER-2013 spelling). SONGS: lines 'path<TAB>quadrant'
(a '#' line is a comment). SPACE: the emotion space file. With --per-quadrant, an emotion's top R
songs are counted, R being the number of SONGS in its quadrant; else every rank in MATCHES."
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
per_quadrant=0
[ "${4:-}" = --per-quadrant ] && per_quadrant=1
awk -F'\t' -v per_quadrant=$per_quadrant '
    FILENAME == ARGV[1] {                     # the space: the face-to-quadrant lines of the Q1..Q4 set
        if ($0 ~ /^set /) { inset = ($0 ~ /Q1,Q2,Q3,Q4/) }
        split($0, w, " ")
        if (inset && w[1] == "face" && w[3] != "-") quadrant[w[2]] = w[3]
        next
    }
    FILENAME == ARGV[2] { if ($0 !~ /^#/ && NF >= 2) { song[$1] = $2; size[$2]++ } next }
    {
        n = split($1, part, "/"); emo = part[n - 1]
        if (emo == "angry") emo = "anger"
        if (!(emo in quadrant) || !($4 in song)) next
        want = quadrant[emo]
        if (per_quadrant && $2 + 0 > size[want]) next
        counted[emo]++
        if (song[$4] == want) fit[emo]++
    }
    END {
        if (length(counted) == 0) { print "congruence: no face was matched to a labelled song" > "/dev/stderr"; exit 1 }
        sum = 0; m = 0
        for (emo in counted) {
            share = fit[emo] / counted[emo]; sum += share; m++
            printf "%s\t%s\t%.4f\t(%d of %d songs)\n", emo, quadrant[emo], share, fit[emo], counted[emo]
        }
        printf "macro\t-\t%.4f\n", sum / m
    }' "$3" "$2" "$1" | sort -t$'\t' -k1,1 | awk -F'\t' '$1 != "macro" { print } $1 == "macro" { last = $0 } END { print last }'
