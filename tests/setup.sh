#!/usr/bin/env bash
# Installs what the tests need beyond Rust, when missing: Debian's Chromium
# and ChromeDriver for tests/it/browser.rs, Tesseract and poppler's
# pdftoppm for OCR in tests/it/documents.rs (PostgreSQL for tests/it/postgres.rs
# comes from PyPI: tests/postgres/start.sh installs it). Idempotent; run as
# root (CI) or with sudo.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "tests/setup.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
