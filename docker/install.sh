#!/bin/sh
# The install steps of the shimtask image, shared by the Dockerfile and by
# tests/test_image.py (which runs them in a fresh venv, as no container engine runs
# in CI): shimtask-core with the storage extras, every distribution in plugins/
# (the executors and the pyflyte-execute command), then the plugin index, built for
# exactly the sys.path the image's commands run with, so that pods start without
# scanning distributions and never write to their (read-only) file system.
#
#   SHIMTASK_CACHE_DIR=DIR docker/install.sh SRC VENV [EXTRAS]
#
# SRC is this repository, VENV the virtual environment to create, EXTRAS the
# shimtask-core extras (default "s3"; "s3,gcs" adds gcsfs). PYTHON picks the
# interpreter (default python3).
set -eu
src=$1
venv=$2
extras=${3:-s3}
: "${SHIMTASK_CACHE_DIR:?set SHIMTASK_CACHE_DIR: the image reads its plugin index there}"

"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --no-cache-dir --quiet --disable-pip-version-check \
    "$src[$extras]" "$src"/plugins/*/
"$venv/bin/python" "$src/docker/build_index.py" "$venv/bin/shimtask"
