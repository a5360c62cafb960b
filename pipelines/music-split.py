#!/usr/bin/env python3
# music-split.py — the artist-disjoint split of the 4Q clips, written to models/music/split.tsv:
# an artist's clips all go to validation when crc32("1" + artist) % 5 == 0 (about a fifth, and
# with the quadrants balanced), else all to training. Rerun only to change the rule.
import csv, os, sys, zlib

root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/music4q"
present = {f[:-4] for q in ("Q1", "Q2", "Q3", "Q4") for f in os.listdir(os.path.join(root, q)) if f.endswith(".mp3")}
print("# song\tquadrant\tpart\tartist  (validation: crc32('1' + artist) % 5 == 0; see pipelines/music-split.py)")
for row in sorted(csv.DictReader(open(os.path.join(root, "metadata.csv"))), key=lambda r: r["Song"]):
    if row["Song"] in present:
        part = "val" if zlib.crc32(("1" + row["Artist"]).encode()) % 5 == 0 else "train"
        print(f'{row["Song"]}\t{row["Quadrant"]}\t{part}\t{row["Artist"]}')
