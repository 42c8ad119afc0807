"""Copy the browser assets the service serves from npm packages (pinned in package-lock.json) into api/static/vendor.

Nothing is fetched from a CDN at run time: every script and stylesheet a page loads comes from the service itself.
Run by ``make setup``; ``--check`` exits 1 if the copies are missing or differ from node_modules.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "node_modules"
VENDOR = ROOT / "api" / "static" / "vendor"

# package -> files to copy (relative to the package directory)
ASSETS: dict[str, list[str]] = {
    "swagger-ui-dist": ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"],
    # The verification page (/verify) checks Ed25519 and hashes small things with these ES modules; the page's
    # import map resolves their bare "@noble/hashes/..." imports to the copies. Every module ed25519.js reaches.
    "@noble/hashes": ["sha2.js", "_md.js", "_u64.js", "utils.js", "LICENSE"],
    "@noble/curves": ["ed25519.js", "utils.js", "abstract/curve.js", "abstract/edwards.js", "abstract/fft.js",
                      "abstract/frost.js", "abstract/hash-to-curve.js", "abstract/modular.js",
                      "abstract/montgomery.js", "abstract/oprf.js", "LICENSE"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the copies are current")
    args = parser.parse_args(argv)
    stale = []
    for package, files in ASSETS.items():
        source_dir, target_dir = NODE / package, VENDOR / package
        for name in files:
            source, target = source_dir / name, target_dir / name
            if not source.is_file():
                print(f"error: {source} is missing; run `npm ci` first", file=sys.stderr)
                return 2
            if target.is_file() and target.read_bytes() == source.read_bytes():
                continue
            if args.check:
                stale.append(str(target.relative_to(ROOT)))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    if stale:
        print("stale or missing assets: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
