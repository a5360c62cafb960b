#!/bin/bash
# facecrop-photos.sh — gathers real photos, most with faces and a few without, from Debian packages
# (downloaded, unpacked in place, never installed) and the npm registry into a cache folder outside
# git: the face-free ones train the verifier (pipelines/verifier-data.sh), all of them measure the
# detectors (tests/facecrop-eval.sh, tests/opencv-compare.py).
# Usage: pipelines/facecrop-photos.sh [DIR] (default data/cache/facecrop).
# Writes DIR/photos/* and DIR/photos/MANIFEST ("file faces|none origin" per line). Repeatable.
# Where a source image is several panels side by side, only the first panel (a photo) is taken.
set -euo pipefail
dir=${1:-data/cache/facecrop}
pkgs=$dir/pkgs
photos=$dir/photos
mkdir -p "$pkgs/x" "$photos"
dir=$(cd "$dir" && pwd); pkgs=$dir/pkgs; photos=$dir/photos

# Debian: opencv-doc (tutorial images), python3-skimage (its data folder), python-matplotlib-data.
for p in opencv-doc python3-skimage python-matplotlib-data; do
    if ! ls "$pkgs"/${p}_*.deb >/dev/null 2>&1; then
        (cd "$pkgs" && apt-get download "$p" 2>/dev/null) || { echo "facecrop-photos: cannot download $p (apt-get update first?)" >&2; exit 1; }
    fi
    [ -e "$pkgs/x/.$p" ] || { dpkg -x "$pkgs"/${p}_*.deb "$pkgs/x" && touch "$pkgs/x/.$p"; }
done
# npm: the demo photos of @vladmandic/face-api, the sample sheet of @vladmandic/human, tracking.js's faces.
for p in @vladmandic/face-api @vladmandic/human tracking; do
    name=${p#@}; name=${name//\//-}
    if ! ls "$pkgs"/$name-*.tgz >/dev/null 2>&1; then
        (cd "$pkgs" && npm pack --silent "$p" >/dev/null) || { echo "facecrop-photos: cannot fetch $p from npm" >&2; exit 1; }
    fi
    mkdir -p "$pkgs/npm/$name"
    [ -e "$pkgs/npm/$name/package" ] || tar xzf "$pkgs"/$name-*.tgz -C "$pkgs/npm/$name"
done

doc=$pkgs/x/usr/share/doc/opencv-doc
ski=$pkgs/x/usr/lib/python3/dist-packages/skimage/data
mpl=$pkgs/x/usr/share/matplotlib/mpl-data/sample_data
fapi=$pkgs/npm/vladmandic-face-api/package/demo
human=$pkgs/npm/vladmandic-human/package/assets
trk=$pkgs/npm/tracking/package/examples/assets
html=$doc/opencv4/html
# name  kind  source path  [width of the first panel to keep]
list="
astronaut.png        faces $ski/astronaut.png
grace_hopper.jpg     faces $mpl/grace_hopper.jpg
messi5.jpg           faces $doc/examples/data/messi5.jpg
faceapi-sample1.jpg  faces $fapi/sample1.jpg
faceapi-sample2.jpg  faces $fapi/sample2.jpg
faceapi-sample3.jpg  faces $fapi/sample3.jpg
faceapi-sample4.jpg  faces $fapi/sample4.jpg
faceapi-sample5.jpg  faces $fapi/sample5.jpg
faceapi-sample6.jpg  faces $fapi/sample6.jpg
human-samples.jpg    faces $human/samples.jpg
doc-227943776_1.jpg  faces $doc/opencv4/html/227943776_1.jpg
doc-230501201_1.jpg  faces $doc/opencv4/html/230501201_1.jpg
doc-ab.jpg           faces $doc/opencv4/html/ab.jpg
doc-facereg.jpg      faces $doc/opencv4/html/facereg.jpg
doc-face_swapped.jpg faces $doc/opencv4/html/face_swapped.jpg
doc-julia.jpg        faces $doc/opencv4/html/julia_facedetect_sample.jpg
doc-faceDetection.png faces $doc/opencv4/html/faceDetection.png
doc-resimg.jpg       faces $doc/opencv4/html/resimg.jpg
doc-example.jpg      faces $doc/opencv4/html/example.jpg
doc-inpaint.jpg      faces $doc/opencv4/html/inpaint_result.jpg
doc-trackbars.jpg    faces $doc/opencv4/html/Adding_Trackbars_Tutorial_Result_1.jpg
doc-linear.jpg       faces $doc/opencv4/html/Basic_Linear_Transform_Tutorial_Result_big.jpg
doc-cmake.jpg        faces $doc/opencv4/html/GCC_CMake_Example_Tutorial.jpg
doc-05.png           faces $html/05.jpg 530
doc-12.png           faces $html/12.jpg 530
doc-cascade-haar.jpg faces $html/Cascade_Classifier_Tutorial_Result_Haar.jpg
doc-cascade-lbp.jpg  faces $html/Cascade_Classifier_Tutorial_Result_LBP.jpg
doc-glider.jpg       faces $html/Template_Matching_Original_Image.jpg
doc-blurred.png      faces $html/blurred.png
doc-superpixels.png  faces $html/superpixels_demo.png
tracking-faces.jpg   faces $trk/faces.jpg
camera.png           faces $ski/camera.png
doc-inpaint-old.png  faces $html/inpaint_basics.jpg 225
coffee.png           none  $ski/coffee.png
chelsea.png          none  $ski/chelsea.png
rocket.jpg           none  $ski/rocket.jpg
baboon.jpg           none  $doc/examples/data/baboon.jpg
fruits.jpg           none  $doc/examples/data/fruits.jpg
building.jpg         none  $doc/examples/data/building.jpg
doc-01.png           none  $html/01.jpg 530
doc-04.png           none  $html/04.jpg 530
doc-11.png           none  $html/11.jpg 530
doc-cat.jpg          none  $html/11_demo.jpg
doc-kitten.jpg       none  $html/cat_det.jpg
doc-dog.jpg          none  $html/Pyramids_Tutorial_Original_Image.jpg
doc-astra.jpg        none  $html/astra_color.jpg
doc-road.jpg         none  $html/detect_test2.jpg
doc-peppers.jpg      none  $html/bicubicOutput.jpg
doc-squirrel.jpg     none  $html/tf_mobilenet_opencv_test_res.jpg
doc-realsense.jpg    none  $html/realsense.jpg
doc-memorial.jpg     none  $html/HDRtoneMapping_memorialSample.jpg
"
: > "$photos/MANIFEST.tmp"
echo "$list" | while read -r name kind path panel; do
    [ -n "$name" ] || continue
    if [ ! -r "$path" ]; then
        echo "facecrop-photos: $path is missing; skipped" >&2
        continue
    fi
    if [ -n "$panel" ]; then
        jpegtopnm "$path" 2>/dev/null | pamcut -left 0 -width "$panel" | pnmtopng > "$photos/$name"
    else
        cp "$path" "$photos/$name"
    fi
    echo "$name $kind ${path#$pkgs/}" >> "$photos/MANIFEST.tmp"
done
mv "$photos/MANIFEST.tmp" "$photos/MANIFEST"
echo "facecrop-photos: $(grep -c ' faces ' "$photos/MANIFEST") photos with faces, $(grep -c ' none ' "$photos/MANIFEST") without, in $photos"
