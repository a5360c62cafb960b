#!/bin/bash
# facecrop-photos.sh — gathers real photos, most with faces and a few without, from Debian packages
# (downloaded, unpacked in place, never installed) and the npm registry into a cache folder outside
# git, for tests/opencv-compare.py. Usage: tests/facecrop-photos.sh [DIR] (default data/cache/facecrop).
# Writes DIR/photos/* and DIR/photos/MANIFEST ("file faces|none origin" per line). Repeatable.
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
# npm: the demo photos of @vladmandic/face-api and the sample sheet of @vladmandic/human.
for p in @vladmandic/face-api @vladmandic/human; do
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
# name  kind  source path
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
coffee.png           none  $ski/coffee.png
chelsea.png          none  $ski/chelsea.png
rocket.jpg           none  $ski/rocket.jpg
baboon.jpg           none  $doc/examples/data/baboon.jpg
fruits.jpg           none  $doc/examples/data/fruits.jpg
building.jpg         none  $doc/examples/data/building.jpg
"
: > "$photos/MANIFEST.tmp"
echo "$list" | while read -r name kind path; do
    [ -n "$name" ] || continue
    if [ ! -r "$path" ]; then
        echo "facecrop-photos: $path is missing; skipped" >&2
        continue
    fi
    cp "$path" "$photos/$name"
    echo "$name $kind ${path#$pkgs/}" >> "$photos/MANIFEST.tmp"
done
mv "$photos/MANIFEST.tmp" "$photos/MANIFEST"
echo "facecrop-photos: $(grep -c ' faces ' "$photos/MANIFEST") photos with faces, $(grep -c ' none ' "$photos/MANIFEST") without, in $photos"
