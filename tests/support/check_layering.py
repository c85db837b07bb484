#!/usr/bin/env python3
"""Dependencies point down only (DESIGN.md): each folder may include headers of the folders
listed for it, and nothing else of ours. Fails naming every include that points the wrong way."""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
GENERATED = {"ringcast/version.hpp"}
# folder -> folders (or exact headers) it may include; checked longest folder first.
ALLOWED = {
    "base": ["base/"],
    "proto": ["proto/"],
    "shm": ["shm/"],
    "admission": ["admission/", "base/"],
    "worker": ["worker/", "admission/", "base/", "proto/", "shm/"],
    "bridge": ["bridge/", "base/", "proto/", "shm/"],
    "supervisor/ctl": ["base/", "supervisor/control_protocol.hpp"],
    "supervisor": ["supervisor/", "worker/", "bridge/", "admission/", "base/", "proto/", "shm/"],
}
OURS = ("admission/", "base/", "proto/", "shm/", "worker/", "bridge/", "supervisor/", "tests/", "bench/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    for folder in sorted(ALLOWED, key=len, reverse=True):
        if rel.startswith(folder + "/"):
            return folder
    return None


def main():
    bad = []
    checked = 0
    for folder in ALLOWED:
        top = os.path.join(ROOT, folder)
        for dirpath, _, files in os.walk(top):
            for name in files:
                if not name.endswith((".cpp", ".hpp", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, ROOT)
                layer = layer_of(rel)
                if layer != folder:
                    continue  # a deeper folder with rules of its own
                checked += 1
                with open(path, encoding="utf-8") as f:
                    for inc in INCLUDE.findall(f.read()):
                        if inc in GENERATED or not inc.startswith(OURS):
                            continue
                        if not any(inc == a or (a.endswith("/") and inc.startswith(a)) for a in ALLOWED[layer]):
                            bad.append(f"{rel}: includes {inc} ({layer}/ may use only {', '.join(ALLOWED[layer])})")
    for line in bad:
        print(line)
    print(f"layering: {checked} files checked, {len(bad)} includes point the wrong way")
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
