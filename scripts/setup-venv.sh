#!/usr/bin/env bash
# Creates .venv in the repository with the official Azure SDKs pinned in scripts/python-requirements.txt.
# Does nothing when the venv already matches the requirements file.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.requirements"
if [ -x "$venv/bin/python3" ] && [ -f "$stamp" ] && cmp -s scripts/python-requirements.txt "$stamp"; then
    exit 0
fi
echo "setup-venv: creating $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python3" -m pip install -q --disable-pip-version-check -r scripts/python-requirements.txt
cp scripts/python-requirements.txt "$stamp"
echo "setup-venv: done"
