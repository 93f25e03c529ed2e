#!/usr/bin/env bash
# The Python X.Y tier's virtual environment (.venv-pyX.Y): requirements.txt with "numpy<2" (what
# a ROS machine runs), the ROS 2 Jazzy wheels of requirements-ros.txt for that interpreter and
# vision_msgs built for it (scripts/build_vision_msgs.sh). test/test_python_tiers.py runs the node
# there, on DDS and on rclpy.
#   scripts/make_python_tier.sh X.Y [JOBS]
# The interpreter: python X.Y on PATH if it runs (a pyenv shim runs only for an enabled version),
# else pyenv's $PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y. None: one line and exit 0 without the
# stamp (the test skips with the reason; with CI=true it fails).
set -euo pipefail
ver=$1
jobs=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$here/.venv-py$ver
stamp=$venv/.tier-installed

find_python() {
  local c
  for c in "$(command -v "python$ver" 2>/dev/null || true)" \
           "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$ver".*/bin/"python$ver" \
           /usr/bin/"python$ver" /usr/local/bin/"python$ver"; do
    if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys' >/dev/null 2>&1; then
      echo "$c"
      return
    fi
  done
}

py=$(find_python)
if [ -z "$py" ]; then
  echo "pytier: no python$ver here (PATH, pyenv): the $ver tier is skipped (make it with pyenv install $ver)"
  exit 0
fi
t0=$(date +%s)
rm -rf "$venv" "$here/build/vision_msgs-py$ver"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --no-compile --disable-pip-version-check \
  -r "$here/requirements.txt" \
  "numpy<2" -r "$here/requirements-ros.txt"
"$here/scripts/build_vision_msgs.sh" "$venv" "$here/build/vision_msgs-py$ver" "$jobs"
touch "$stamp"
echo "pytier: $venv ($("$venv/bin/python" -c 'import platform; print(platform.python_version())')) in $(( $(date +%s) - t0 )) s"
