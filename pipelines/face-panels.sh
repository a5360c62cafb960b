# face-panels.sh — sourced by face-picture.sh and recommend.sh: the face crop and its emotion
# bars as data and as gnuplot panels, so both pictures draw the face the same way.

# face_data FACE.vx PROBS.txt DIR: DIR/crop.txt (the crop's gray levels, top row first, for
# gnuplot's 'matrix with image') and DIR/bars.txt (index, emotion, probability a line) from a
# crop record and vx-infer --text's line for it; prints the top emotion's index.
face_data() {
    vx-topng "$1" | pnmtoplainpnm |
        awk 'NR == 2 { w = $1 } NR > 3 { for (i = 1; i <= NF; i++) printf "%s%s", $i, (++n % w ? " " : "\n") }' > "$3/crop.txt"
    awk -F'\t' 'NR == 1 { split("anger disgust fear happy neutral sad surprise", name, " ");
                          for (k = 3; k <= NF; k++) print k - 3, name[k - 2], $k }' "$2" > "$3/bars.txt"
    sort -k3 -g -r "$3/bars.txt" | head -1 | cut -d' ' -f1
}

# face_panels DIR TITLE TOP BEST CROP_X CROP_W BARS_X BARS_W: gnuplot commands for the crop
# (one square per pixel, upright) and a labelled bar per emotion, the top one highlighted.
face_panels() {
    cat <<GP
set origin $5, 0.0
set size $6, 1.0
set lmargin 2; set rmargin 2; set tmargin 3; set bmargin 2
set title "$2" noenhanced
unset xtics; unset ytics; unset colorbox
set size ratio -1
set palette gray
set cbrange [0:255]
set xrange [-0.5:47.5]; set yrange [47.5:-0.5]
plot "$1/crop.txt" matrix with image
set origin $7, 0.0
set size $8, 1.0
set size noratio
set lmargin 11; set rmargin 4; set tmargin 3; set bmargin 3
set title "$3"
set xrange [0:1]; set yrange [6.6:-0.6]
set xtics ("0" 0, "25%%" 0.25, "50%%" 0.5, "75%%" 0.75, "100%%" 1)
set ytics ("anger" 0, "disgust" 1, "fear" 2, "happy" 3, "neutral" 4, "sad" 5, "surprise" 6) scale 0
set grid xtics
set style fill solid 0.85 border -1
plot "$1/bars.txt" using (\$3/2):1:(\$3/2):(0.35):(\$1 == $4 ? 0xd9534f : 0x5b8fc7) with boxxyerror lc rgb variable, \\
     "" using (\$3 + 0.02):1:(sprintf("%.1f%%", 100 * \$3)) with labels left
GP
}
