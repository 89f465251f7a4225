#!/usr/bin/env python3
"""Entry point: `python run_live.py --help`. Same as the `run-live` console script."""
import sys

from live.cli import main

if __name__ == "__main__":
    sys.exit(main())
