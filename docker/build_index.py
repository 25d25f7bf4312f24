"""Build the plugin index of an image so that its pods start without scanning.

Run by docker/install.sh with the image's virtual environment, as the user the
image runs as (the index is trusted only when its owner runs it), as the last
install step.

The index is keyed on the modification times of the ``sys.path`` directories.
Image layers keep whole seconds only, so the times of the venv's directories are
first rounded down to whole seconds (and moved a few seconds into the past: a whole-second time that
is too recent counts as untrustworthy, see the index's "racy" check); the index
then matches the directories in every container started from the image.

    python build_index.py VENV/bin/shimtask
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def index_state(shimtask: str, *args: str) -> dict[str, object]:
    out = subprocess.run([shimtask, "plugins", "index", "--json", *args], check=True,
                         capture_output=True, text=True).stdout
    state: dict[str, object] = json.loads(out)
    return state


def main() -> int:
    shimtask = sys.argv[1]
    settled = int(time.time()) - 10
    venv = os.path.dirname(os.path.dirname(os.path.abspath(shimtask)))
    for item in index_state(shimtask)["path"]:  # type: ignore[union-attr]
        entry = item["entry"]  # type: ignore[index]
        # Only the venv's own directories: the base image's standard library comes
        # from an earlier layer, whose times are whole seconds already.
        if os.path.isdir(entry) and os.path.commonpath([venv, entry]) == venv:
            os.utime(entry, (settled, settled))
    built = index_state(shimtask, "--rebuild")
    again = index_state(shimtask)
    if built["status"] != "rebuilt" or again["status"] != "fresh":
        print(f"build_index: the index is not usable: {built['status']} "
              f"({built['reason']}), then {again['status']} ({again['reason']})",
              file=sys.stderr)
        return 1
    records = again["records"]
    assert isinstance(records, list)
    print(f"build_index: {again['file']}: {len(records)} entry point(s) from "
          f"{len({r['dist'] for r in records})} distribution(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
