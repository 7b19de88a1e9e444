#!/usr/bin/env bash
# Installs the SARIF test's validator (package.json / package-lock.json beside this script: the
# SARIF Multitool at a pinned version, its integrity checked by npm against the lock) into DEST,
# from the npm registry. Does nothing when DEST already has this lock's install.
# usage: install.sh DEST
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$1"
tool="$dest/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ -x "$tool" ] && cmp -s "$here/package-lock.json" "$dest/package-lock.json"; then
  echo "sarif validator: already installed in $dest"
  exit 0
fi
if ! command -v npm > /dev/null; then
  echo "sarif validator: npm is not installed (Node.js's npm; the SARIF test needs it once to fetch the validator)" >&2
  exit 1
fi
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
# --ignore-scripts: the package's only script makes the binary executable, done here instead.
if ! (cd "$dest" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); then
  echo "sarif validator: 'npm ci' in $dest failed: the npm registry could not be reached, or the package did not match its integrity hash in package-lock.json" >&2
  exit 1
fi
chmod u+x "$tool"
echo "sarif validator: installed $("$tool" --version 2>&1 | head -c 80 || true) in $dest"
