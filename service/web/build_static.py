"""`python -m service.web.build_static [clean]`: make (or remove) the fingerprinted static files before the web
starts; a command of its own, as the package's create_app imports service.web.assets."""
from __future__ import annotations

import sys

from service.web.assets import BUILD, build, clean


def main(argv: list[str]) -> int:
    """Build the fingerprinted files (the default), or remove them with `clean`."""
    if argv[1:] == ["clean"]:
        clean()
        return 0
    manifest = build(quiet=True)
    print(f"static files: {len(manifest.files)} fingerprinted in {BUILD} (version {manifest.version})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
