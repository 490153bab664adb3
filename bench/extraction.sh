#!/usr/bin/env bash
# Extraction speed per format (issue 12), against poppler's pdftotext on
# the same PDFs in the same run. The real set is the Rust book as rustup
# installs it: every chapter printed to PDF by headless Chromium, and
# converted by pandoc to DOCX, ODT, EPUB and PPTX.
#
#   bash bench/extraction.sh [BINARY] [OUT_DIR]
#
# CHAPTERS=N (default 40) takes the book's first N chapter pages: making all
# 124 takes most of an hour on 2 cores.
# Needs chromium, pandoc and poppler-utils (apt-get install -y chromium
# pandoc poppler-utils). The documents are made once and kept in OUT_DIR.
set -euo pipefail
BIN=${1:-target/release/semsearch}
OUT=${2:-/tmp/semsearch-extraction}
book=$(rustc --print sysroot)/share/doc/rust/html/book
mkdir -p "$OUT"/{pdf,docx,odt,epub,pptx}
for f in $(ls "$book"/ch*.html | head -n "${CHAPTERS:-40}"); do
  n=$(basename "$f" .html)
  [ -s "$OUT/pdf/$n.pdf" ] || chromium --headless --no-sandbox --disable-gpu \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --user-data-dir="$OUT/.chromium" --no-pdf-header-footer \
    --print-to-pdf="$OUT/pdf/$n.pdf" "file://$f" 2>/dev/null
  for fmt in docx odt epub pptx; do
    [ -s "$OUT/$fmt/$n.$fmt" ] || pandoc -f html "$f" -o "$OUT/$fmt/$n.$fmt" 2>/dev/null
  done
done

echo "== fixtures (tests/fixtures/documents)"
"$BIN" bench extract tests/fixtures/documents/*
echo "== the Rust book, $(ls "$OUT"/pdf | wc -l) chapter pages in each format"
"$BIN" bench extract "$OUT"/pdf/*.pdf "$OUT"/docx/*.docx "$OUT"/odt/*.odt "$OUT"/epub/*.epub "$OUT"/pptx/*.pptx
echo "== pdftotext on the same PDFs, one process per file as semsearch reads one file after another"
pages=0
for f in "$OUT"/pdf/*.pdf; do pages=$((pages + $(pdfinfo "$f" | awk '/^Pages:/ {print $2}'))); done
mb=$(du -cb "$OUT"/pdf/*.pdf | tail -1 | awk '{print $1 / 1e6}')
start=$(date +%s.%N)
for f in "$OUT"/pdf/*.pdf; do pdftotext -q "$f" - >/dev/null; done
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'pdftotext: {$mb:.2f} MB, $pages pages in {s:.3f} s: {$mb/s:.2f} MB/s, {$pages/s:.0f} pages/s')"
