#!/usr/bin/env python
"""Check configuration overlays before a run: each file's YAML (a syntax error names the
file, line and column, which Snakemake's own message does not), then the configuration they
make merged over config.yaml, as the workflow validates it.

    python scripts/check_config.py my_overlay.yaml [more.yaml ...]"""
from pathlib import Path

from linf_smoothing import cli
from linf_smoothing.config import load_yaml, merged, validate_config

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("overlays", nargs="*", type=Path, help="files given to snakemake with --configfile")
    args = parser.parse_args()
    config = load_yaml(CONFIG)
    for overlay in args.overlays:
        config = merged(config, load_yaml(overlay))
    validate_config(config)
    print(f"valid: {CONFIG.name}" + "".join(f" + {overlay}" for overlay in args.overlays))


if __name__ == "__main__":
    cli.run(main)
