"""What every Glue entry script does: keep the job's own arguments, drop Glue's, and run the gtlake command.

Glue passes its own arguments (--JOB_NAME, --TempDir, --enable-..., ...) to the script; they are dropped here.
Flags taking a value accept both `--flag value` and `--flag=value`.
"""
from __future__ import annotations

import sys
from typing import Sequence

from gtlake.cli import build_parser, main


def own_args(argv: Sequence[str], flags: set[str], switches: frozenset[str] = frozenset()) -> list[str]:
    """The arguments of `argv` that are the job's: `flags` with their values and `switches`."""
    out, i = [], 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if argv[i] in flags and i + 1 < len(argv):
            out += argv[i:i + 2]
            i += 2
        elif name in flags and "=" in argv[i]:
            out.append(argv[i])
            i += 1
        elif argv[i] in switches:
            out.append(argv[i])
            i += 1
        else:
            i += 1
    return out


def entry(command: str, flags: set[str], switches: frozenset[str] = frozenset()) -> int:
    """Run `gtlake <command>` with the job's own arguments from sys.argv."""
    build_parser()  # fail early on an import problem, before Spark starts
    return main([command, *own_args(sys.argv[1:], flags, switches)])
