"""The oracle venv holds exactly the pinned versions (tests/oracles/requirements.txt and the torch
pin it includes), so an oracle comparison always names the library version it checked against."""
import importlib.metadata as md
import pathlib
import sys

here = pathlib.Path(__file__).resolve().parent


def pins(path):
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(pins((path.parent / line[3:].strip()).resolve()))
        else:
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


bad = []
for name, want in sorted(pins(here / "requirements.txt").items()):
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    print(f"{name:14s} pinned {want:10s} installed {have}")
    if have != want:
        bad.append(name)
if bad:
    print("not as pinned: " + ", ".join(bad) + " (re-run packaging/make-venv.sh)", file=sys.stderr)
    sys.exit(1)
