#!/bin/sh
# Install Debian's Chromium for the playground's browser test (tests/serve/test_playground.py).
#
# Playwright's own browser download needs the internet; Debian's package comes through the system's
# package mirror instead. Does nothing when /usr/bin/chromium is already there. Exits non-zero (and
# the test skips, naming the reason) only where Chromium is missing and cannot be installed: no
# apt-get, or neither root nor password-less sudo. Also installs a Korean font (fonts-nanum) where
# none is present, so screenshots show Hangul rather than boxes; that part is best effort.
set -eu

CHROMIUM=/usr/bin/chromium

has_korean_font() {
    ! command -v fc-list >/dev/null 2>&1 || [ -n "$(fc-list :lang=ko 2>/dev/null)" ]
}

# cannot MESSAGE: fatal only while Chromium itself is missing
cannot() {
    if [ -x "$CHROMIUM" ]; then
        echo "chromium already installed: $CHROMIUM (note: no Korean font: $1)"
        exit 0
    fi
    echo "cannot install chromium: $1" >&2
    exit 1
}

if [ -x "$CHROMIUM" ] && has_korean_font; then
    echo "chromium already installed: $CHROMIUM"
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || cannot "apt-get not found (install Chromium so that $CHROMIUM exists)"
if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    AS_ROOT="sudo -n"
else
    cannot "need root or password-less sudo to run apt-get"
fi

export DEBIAN_FRONTEND=noninteractive
install() {
    $AS_ROOT apt-get install -y --no-install-recommends "$@" \
        || { $AS_ROOT apt-get update && $AS_ROOT apt-get install -y --no-install-recommends "$@"; }
}
[ -x "$CHROMIUM" ] || install chromium || cannot "apt-get install chromium failed"
has_korean_font || install fonts-nanum >/dev/null 2>&1 \
    || echo "note: could not install a Korean font; Hangul will show as boxes in screenshots" >&2
test -x "$CHROMIUM" || cannot "the chromium package did not provide $CHROMIUM"
echo "chromium installed: $CHROMIUM"
