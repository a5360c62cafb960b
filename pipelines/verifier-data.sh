#!/bin/bash
# verifier-data.sh — the face verifier's training stream: FER-2013 training faces (label 0, face)
# and the detector's own candidates on face-free photos from Debian packages (label 1, other).
# Usage: pipelines/verifier-data.sh FER_TRAINING PKGS OUT   (vx-* programs on PATH)
# PKGS is the unpacked package folder pipelines/facecrop-photos.sh keeps (DIR/pkgs); none of these
# photos is in the evaluation set (tests/data/facecrop/truth.txt). Writes OUT/train.vxs.
set -euo pipefail
fer=${1:?usage: verifier-data.sh FER_TRAINING PKGS OUT}; pkgs=${2:?}; out=${3:?}
ex=$pkgs/x/usr/share/doc/opencv-doc/examples/data
html=$pkgs/x/usr/share/doc/opencv-doc/opencv4/html
ski=$pkgs/x/usr/lib/python3/dist-packages/skimage/data
# Face-free photos, each looked at: scenes, objects, animals, textures, text, screenshots; several
# are where OpenCV's cascade fires falsely, the negatives that matter most.
negatives="
$ex/HappyFish.jpg $ex/aero1.jpg $ex/aero3.jpg $ex/aloeL.jpg $ex/apple.jpg $ex/basketball1.png
$ex/blox.jpg $ex/board.jpg $ex/box_in_scene.png $ex/butterfly.jpg $ex/cards.png $ex/chessboard.png
$ex/chicky_512.png $ex/graf1.png $ex/graf3.png $ex/home.jpg $ex/leuvenA.jpg $ex/leuvenB.jpg
$ex/licenseplate_motion.jpg $ex/orange.jpg $ex/pic1.png $ex/pic3.png $ex/pic5.png $ex/rubberwhale1.png
$ex/smarties.png $ex/starry_night.jpg $ex/stuff.jpg $ex/sudoku.png $ex/text_defocus.jpg $ex/notes.png
$ski/brick.png $ski/coins.png $ski/grass.png $ski/gravel.png $ski/horse.png $ski/hubble_deep_field.jpg
$ski/moon.png $ski/motorcycle_left.png $ski/page.png $ski/retina.jpg $ski/text.png $ski/color.png
$ski/microaneurysms.png $ski/ihc.png $ski/clock_motion.png
$html/02.jpg $html/03.jpg $html/08.jpg $html/04_default_filter_view.jpg $html/09_overview_filtered_type_match.jpg
$html/11_line_match_view_portion_selector.jpg $html/12_translation_match_view_portion_selector.jpg
$html/Basic_Linear_Transform_Tutorial_gamma_correction.jpg
$html/Basic_Linear_Transform_Tutorial_linear_transform_correction.jpg $html/Feature_Detection_Result_b.jpg
$html/Hough_Circle_Tutorial_Theory_0.jpg $html/VideoDemo_thermal_park.jpg $html/ambush_5_bm.png
$html/black_car.jpg $html/calib_pattern.jpg $html/charucoboard.jpg $html/corridor_fld.jpg
$html/desktop_trajectory.png $html/emulator_canny.png $html/epiresult.jpg $html/exposures.jpg
$html/feature_building.jpg $html/fisheye.jpg $html/fisheye_undistorted.jpg $html/frame.jpg $html/fusion.png
$html/gdal_heat-map.jpg $html/gst_coherency.jpg $html/gst_orientation.jpg $html/houghlines3.jpg $html/imgs.jpg
$html/import_sagrada_familia.png $html/integral.png $html/ldr_robertson.jpg $html/markers.jpg $html/median.jpg
$html/originalVSdistorted.jpg $html/plane_viz.png $html/pointCloud.jpg $html/polar_remap_doc.png
$html/pose_1.jpg $html/pose_2.jpg $html/random_pattern.jpg $html/sagrada_familia_input.jpg
$html/sample_rec_ste.jpg $html/screen_finish.jpg $html/stereo_undistort.jpg $html/surf_kp2.jpg
$html/viewer.jpg $html/water_fgbg.jpg $html/water_result.jpg $html/water_thresh.jpg $html/yolo.jpg $html/res.png
"
rm -rf "$out/neg" "$out/pos"
mkdir -p "$out/neg/other" "$out/pos/face"
for f in $negatives; do
    [ -r "$f" ] || { echo "verifier-data: $f is missing (run pipelines/facecrop-photos.sh: make facecrop-photos)" >&2; exit 1; }
    # anytopnm tells the format by content (one .jpg here is a PNG). Each photo also mirrored and
    # upside down, and at 0.6 and 0.4 times its size, so the cascade's windows fall on other places.
    name=$out/neg/other/$(basename "${f%.*}")
    anytopnm "$f" 2>/dev/null > "$name.pnm"
    pamflip -lr "$name.pnm" > "$name-mirror.pnm"
    pamflip -tb "$name.pnm" > "$name-flip.pnm"
    pamscale 0.6 "$name.pnm" > "$name-small.pnm"
    pamscale 0.4 "$name-mirror.pnm" > "$name-smaller.pnm"
done
# Every candidate the unverified detector proposes, even single raw hits on a fine pyramid, is a
# negative. Crops are contrast-normalised (--normalise) as the verifier sees them.
vx-decode --labels face,other "$out/neg" |
    vx-facecrop --verifier none --normalise --min-neighbors 0 --scale-factor 1.05 --min-size 24 --all --allow-none > "$out/neg.vxs"
# The faces: every second FER-2013 training image (all seven emotions), in one folder labelled face.
# Each is enlarged three times and cropped by the same unverified detector, so that the faces reach
# the verifier as a photo's faces do (framed by the cascade, averaged down from a larger box):
# FER's raw 48x48 pixels are sharper and noisier than such crops, a difference the verifier would
# otherwise learn instead of faces. Images where the cascade finds nothing are left out.
find "$fer" -name '*.png' | LC_ALL=C sort | awk 'NR % 2 == 1' | (cd "$out/pos/face" && i=0 && while read -r f; do
    pngtopam "$f" | pamscale 3 > "$i.pgm"; i=$((i + 1)); done)
vx-decode --labels face,other "$out/pos" | vx-facecrop --verifier none --normalise --allow-none > "$out/pos.vxs"
rm -rf "$out/pos"
cat "$out/pos.vxs" "$out/neg.vxs" > "$out/train.vxs"
echo "verifier-data: $(vx-ls -c "$out/pos.vxs" | awk '$1 == "total" { print $2 }') faces," \
     "$(vx-ls -c "$out/neg.vxs" | awk '$1 == "total" { print $2 }') other crops in $out/train.vxs"
