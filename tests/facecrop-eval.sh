#!/bin/bash
# facecrop-eval.sh — faces found and false boxes of vx-facecrop --all on the hand-boxed photo set
# (tests/data/facecrop/truth.txt over the photos pipelines/facecrop-photos.sh gathers).
# Usage: tests/facecrop-eval.sh [-v] PHOTOS_DIR [VX-FACECROP OPTION]...   (-v: a line per photo)
# A box finds a face when its centre lies inside the face's hand-drawn box and its width is within
# half to twice the face's; each face is found at most once, and every other box is false.
# first-false counts photos with faces whose first box (the one written without --all) is false.
set -euo pipefail
verbose=0
[ "${1:-}" = -v ] && { verbose=1; shift; }
photos=${1:?usage: facecrop-eval.sh [-v] PHOTOS_DIR [OPTION]...}; shift
truth=$(dirname "$0")/data/facecrop/truth.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for name in $(grep -v '^#' "$truth" | awk '{ print $1 }' | sort -u); do
    [ -r "$photos/$name" ] || { echo "facecrop-eval: no $photos/$name (make facecrop-photos)" >&2; exit 1; }
    case $name in
    *.jpg) jpegtopnm "$photos/$name" 2>/dev/null > "$tmp/$name.pnm" ;;
    *) cp "$photos/$name" "$tmp/$name.pnm" ;;
    esac
    (cd "$tmp" && vx-facecrop --text --all --allow-none "$@" "$name.pnm") | sed 's/\.pnm / /' >> "$tmp/boxes"
done
touch "$tmp/boxes"
awk -v verbose=$verbose '
    FNR == NR { if ($1 !~ /^#/) { photos[$1] = 1; if ($2 != "none") { k = nf[$1]++; fx[$1, k] = $2; fy[$1, k] = $3; fw[$1, k] = $4; fh[$1, k] = $5 } } next }
    { cx = $2 + $4 / 2; cy = $3 + $5 / 2; hit = -1
      for (k = 0; k < nf[$1]; k++)
          if (!used[$1, k] && cx >= fx[$1, k] && cx < fx[$1, k] + fw[$1, k] && cy >= fy[$1, k] && cy < fy[$1, k] + fh[$1, k] &&
              $4 >= fw[$1, k] / 2 && $4 <= 2 * fw[$1, k]) { hit = k; break }
      if (hit >= 0) { used[$1, hit] = 1; found[$1]++ } else { false[$1]++; falsebox[$1] = falsebox[$1] " " $2 "," $3 "," $4 "," $5 }
      if (!seen[$1]++ && nf[$1] && hit < 0) firstfalse++ }
    END { for (p in photos) { faces += nf[p]; f += found[p]; x += false[p]; n++
              if (verbose) printf "%-24s faces %d found %d false %d%s\n", p, nf[p], found[p], false[p], falsebox[p] | "sort" }
          close("sort")
          printf "photos %d faces %d found %d false %d first-false %d\n", n, faces, f, x, firstfalse }' "$truth" "$tmp/boxes"
