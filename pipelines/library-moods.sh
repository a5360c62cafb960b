#!/bin/bash
# library-moods.sh — the out-of-domain check set: library tracks whose file name or title tag
# names a mood, with the quadrant that word stands for.
# Usage: pipelines/library-moods.sh [LIST]   (LIST: one audio path a line, default stdin)
# Writes data/library/moods.tsv's text to stdout and the per-quadrant counts to stderr.
#
# A name or title is cut into words at every non-letter and at lower-to-upper case changes
# ("defeat2" -> defeat; "MadeiraStew" -> madeira stew), lower-cased, and each word is matched
# whole against the forms below (so "forest" is not "rest", "warp" is not "war"). The file name
# (without its extension) and the TITLE tag (soxi -a) are both read; a track whose words name
# two quadrants, in either or across both, is left out as ambiguous. The third column says which
# word decided, from the file name (name:WORD) if it named one, else from the tag (tag:WORD).
# A track whose loudest sample stays below -60 dBFS is left out as silent: vx-embed skips it the
# same way, so it is never recommended (wesnoth's silence.ogg is 10 s of dither, not calm music).
set -euo pipefail
command -v soxi >/dev/null && command -v sox >/dev/null || { echo "library-moods.sh: sox or soxi (package sox) not found" >&2; exit 1; }

# quadrant <TAB> extended regular expression for whole words
rules='Q3	sad|sadly|sadness|defeat|defeats|defeated|sorrow|sorrows|sorrowful|tears|lament|laments|lamentation|funeral|funerals|loss|losses|elegy|elegies|casualties|dead|death|mourning|farewell
Q1	victory|victories|victorious|triumph|triumphs|triumphant|triumphal|happy|happiness|celebration|celebrations|celebrate|joy|joyful|joyous|win|wins|winning|winner|fanfare|fanfares|invincible
Q2	battle|battles|combat|boss|bosses|danger|dangers|dangerous|siege|sieges|war|wars|attack|attacks|fight|fights|fighting|chase|chases|chasing|frantic|suspense|vengeful|vengeance|revenge|terror|panic
Q4	calm|calming|peace|peaceful|menu|menus|ambient|ambience|rest|resting|restful|sleep|sleeping|sleepy|dream|dreams|dreaming|dreamy|serene|serenity|quiet|quietly|quietness|silence|silent|sanctuary|tranquil|lullaby'

# words NAME: the words of NAME, one a line
words() { sed -E 's/([a-z])([A-Z])/\1 \2/g' <<<"$1" | tr 'A-Z' 'a-z' | tr -cs 'a-z' '\n' | sed '/^$/d'; }

# matches SOURCE TEXT: "QUADRANT<TAB>SOURCE:WORD" for each word of TEXT that names a mood
matches() {
    local src=$1 w q re
    while read -r w; do
        while IFS=$'\t' read -r q re; do
            [[ $w =~ ^($re)$ ]] && printf '%s\t%s:%s\n' "$q" "$src" "$w"
        done <<<"$rules"
    done < <(words "$2")
    return 0
}

declare -A count=([Q1]=0 [Q2]=0 [Q3]=0 [Q4]=0)
ambiguous=0 silent=0 unreadable=0 total=0 rows=
while IFS= read -r path; do
    [ -n "$path" ] || continue
    total=$((total + 1))
    name=${path##*/}; name=${name%.*}
    title=$(soxi -a "$path" 2>/dev/null | sed -n 's/^[Tt][Ii][Tt][Ll][Ee]=//p' | head -n 1) || title=
    found=$( { matches name "$name"; matches tag "$title"; } )
    [ -n "$found" ] || continue
    quads=$(cut -f1 <<<"$found" | sort -u)
    if [ "$(wc -l <<<"$quads")" -gt 1 ]; then
        ambiguous=$((ambiguous + 1))
        echo "library-moods.sh: ambiguous, left out: $path ($(cut -f2 <<<"$found" | tr '\n' ' '))" >&2
        continue
    fi
    peak=$(sox "$path" -n stat 2>&1 | awk '/^Maximum amplitude/ { print $3 }') || peak=
    if [ -z "$peak" ]; then
        unreadable=$((unreadable + 1))
        echo "library-moods.sh: sox cannot read it, left out: $path" >&2
        continue
    fi
    if awk -v p="$peak" 'BEGIN { exit !(p < 0.001) }'; then
        silent=$((silent + 1))
        echo "library-moods.sh: silent (peak $peak), left out: $path" >&2
        continue
    fi
    count[$quads]=$((count[$quads] + 1))
    rows+=$(printf '%s\t%s\t%s' "$path" "$quads" "$(head -n 1 <<<"$found" | cut -f2)")$'\n'
done < "${1:-/dev/stdin}"

printf '# path\tquadrant\tmatched word (name:WORD from the file name, tag:WORD from its TITLE tag)\n'
printf '# made by pipelines/library-moods.sh from the library list; quadrants of valence and arousal:\n'
printf '# Q3 (sad): sad defeat sorrow tears lament funeral loss elegy casualties dead death mourning farewell;\n# Q1 (happy): victory triumph happy'
printf ' celebration joy win fanfare invincible; Q2 (tense): battle combat boss danger siege war attack\n# fight chase frantic suspense vengeful revenge terror panic;\n'
printf '# Q4 (calm): calm peaceful menu ambient rest sleep dream serene quiet silence sanctuary tranquil\n# lullaby (and their plural/-ful/-ing\n'
printf '# forms). Whole words only; titles naming two quadrants are left out, and silent tracks (peak\n'
printf '# below -60 dBFS, which vx-embed skips).\n'

unread=$([ "$unreadable" = 0 ] || echo ", $unreadable unreadable")
printf '# %d tracks read: Q1 %d, Q2 %d, Q3 %d, Q4 %d; %d ambiguous and %d silent left out%s.\n' \
    "$total" "${count[Q1]}" "${count[Q2]}" "${count[Q3]}" "${count[Q4]}" "$ambiguous" "$silent" "$unread"
printf '%s' "$rows"

echo "library-moods.sh: $total tracks: Q1 ${count[Q1]}, Q2 ${count[Q2]}, Q3 ${count[Q3]}, Q4 ${count[Q4]}; $ambiguous ambiguous and $silent silent left out$unread" >&2
