#!/usr/bin/env bash
# vision_msgs from the in-tree texts (video_perception/msg_defs, ros/vision_msgs) into a venv that
# holds the ROS 2 Jazzy wheels of requirements-ros.txt, built with rosidl for that venv's Python.
# Used by `make ros` (.venv) and by the Python 3.10 / 3.12 tiers (.venv-py3.10, .venv-py3.12).
#   scripts/build_vision_msgs.sh VENV BUILD_DIR [JOBS]
# The wheels' rosidl export files name the interpreter of the machine that built them
# (/opt/python/cp311-cp311/...): they are pointed at this venv's headers and numpy first.
set -euo pipefail
venv=$(cd "$1" && pwd)
build=$2
jobs=${3:-2}
py=$venv/bin/python
command -v c++ >/dev/null || { echo "vision_msgs: no C++ compiler (c++): apt install g++"; exit 1; }
inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npy=$("$py" -c 'import numpy; print(numpy.get_include())')
test -f "$inc/Python.h" || { echo "vision_msgs: $inc/Python.h missing: install the python3-dev headers"; exit 1; }
sed -i -e "s#/opt/python/cp[0-9]*-cp[0-9]*/include/python3\.[0-9]*#$inc#g" \
  -e "s#/opt/python/cp[0-9]*-cp[0-9]*/lib/python3\.[0-9]*/site-packages/numpy/_*core/include#$npy#g" \
  "$venv"/share/*/cmake/*__rosidl_generator_pyExport.cmake
rm -rf "$build" && mkdir -p "$(dirname "$build")"
here=$(cd "$(dirname "$0")/.." && pwd)
"$venv/bin/cmake" -S "$here/ros/vision_msgs" -B "$build" \
  -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF > "$build.log"
"$venv/bin/cmake" --build "$build" -j "$jobs" >> "$build.log"
"$venv/bin/cmake" --install "$build" >> "$build.log"
"$py" -c 'import rclpy, vision_msgs.msg; vision_msgs.msg.Detection2DArray(); import sys; print("vision_msgs: rclpy and vision_msgs import on Python", sys.version.split()[0])'
