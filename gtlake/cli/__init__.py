"""The `gtlake` command: a thin parser over one small module per command group.

    sample                      gtlake.cli.sample
    ingest workers embed        gtlake.cli.steps     (the pipeline's steps, and `run`: all of them in order,
    quality audit validate run                         as `gtlake.pipeline` declares), verdicts, predictions
    audit-request               gtlake.cli.audit_request
    sql dashboard review export gtlake.cli.read
    athena quicksight deploy    gtlake.cli.aws

A wrong argument or a missing input prints one line and the usage, and exits 2. A run that cannot proceed (lake
locked, counts that do not balance, a data-quality gate that stops it) prints one line and exits 1; so does any
other failure, with its traceback only when GTLAKE_DEBUG is set.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from gtlake import __version__
from gtlake.cli import audit_request, aws, read, sample, steps
from gtlake.cli.common import VALIDATED_TABLES, Parser, where

__all__ = ["VALIDATED_TABLES", "build_parser", "main"]
GROUPS = (sample, steps, audit_request, read, aws)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand; `parser.commands` maps each name to its own parser."""
    p = Parser(prog="gtlake", description="Label-quality data lake for SageMaker Ground Truth.")
    p.commands = {}
    p.add_argument("--version", action="version", version=f"gtlake {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for group in GROUPS:
        group.add_commands(sub, p.commands)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gtlake` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from gtlake.integrity import LakeDamaged
    from gtlake.lake import LakeBusy, LakeMidCommit
    from gtlake.records import UnbalancedRun, ValidationFailed

    try:
        return args.handler(args, parser.commands[args.command])
    except (LakeBusy, LakeMidCommit, UnbalancedRun) as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        return 1
    except LakeDamaged as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        for d in e.damage[:20]:
            print(f"  {d.message()}", file=sys.stderr)
        if len(e.damage) > 20:
            print(f"  ... and {len(e.damage) - 20} more", file=sys.stderr)
        return 1
    except ValidationFailed as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        for f in e.findings:
            print(f"  {f.message()}", file=sys.stderr)
        print(f"  findings in {where(args.lake, 'validations')}; repair the lake (or rerun with --on-failure warn)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gtlake {args.command}: interrupted; the lake is as it was before this run", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("GTLAKE_DEBUG"):
            raise
        first = (str(e).strip().splitlines() or [""])[0][:500]
        print(f"gtlake {args.command}: failed: {type(e).__name__}: {first} (GTLAKE_DEBUG=1 shows the traceback); "
              "a run that fails commits nothing but its failed runs row", file=sys.stderr)
        return 1
