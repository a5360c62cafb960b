#!/bin/bash
# library-moods.t — pipelines/library-moods.sh on a small library made with sox: whole words of
# file names and title tags to quadrants; ambiguous titles, silent tracks and files sox cannot read
# left out.
. "$(dirname "$0")/lib.sh"
plan 6

command -v sox >/dev/null || { echo "Bail out! sox not found"; exit 1; }
tone() { sox -n -r 22050 -c 1 "$@" synth 2 sine 440 vol 0.5 2>/dev/null; }
tone Victory2.flac; tone forest-rest.flac; tone sad_battle.flac; tone theme.flac
tone tagged.flac; sox tagged.flac --comment "TITLE=Boss Fight" t.flac && mv t.flac tagged.flac
sox -n -r 22050 -c 1 silence.flac synth 2 sine 440 vol 0.0001 2>/dev/null
head -c 3000 /dev/urandom > defeat.flac # a corrupt file whose name names a mood
ls "$tmp"/*.flac | sort > list
"$src/pipelines/library-moods.sh" list > moods.tsv 2> err
ok $? "library-moods.sh reads a list of 7 tracks, one of them corrupt"

rows=$(grep -v '^#' moods.tsv | sed "s|$tmp/||")
[ "$rows" = "$(printf 'Victory2.flac\tQ1\tname:victory\nforest-rest.flac\tQ4\tname:rest\ntagged.flac\tQ2\ttag:boss')" ]
ok $? "Victory2 -> Q1 (a word cut at the digit), forest-rest -> Q4 (rest, a whole word), a TITLE tag -> Q2"
grep -q "ambiguous, left out: $tmp/sad_battle.flac" err; ok $? "sad_battle names two quadrants: left out as ambiguous"
grep -q "silent (peak 0.000[0-9]*), left out: $tmp/silence.flac" err; ok $? "a track below -60 dBFS is left out as silent, though its name says a mood"
grep -q "sox cannot read it, left out: $tmp/defeat.flac" err; ok $? "a corrupt file is left out as unreadable, not as silent"
grep -q '^# 7 tracks read: Q1 1, Q2 1, Q3 0, Q4 1; 1 ambiguous and 1 silent left out, 1 unreadable.$' moods.tsv
ok $? "the header counts each quadrant and what was left out"
done_testing
