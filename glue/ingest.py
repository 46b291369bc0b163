"""Entry script of the ingest job for spark-submit (and Glue): parse arguments, run, report.

    spark-submit glue/ingest.py --input PATH --lake PATH

Arguments it does not know (Glue adds --JOB_NAME and others) are ignored.
"""
import sys

from gtlake.cli import build_parser, main


def _own_args(argv: list[str]) -> list[str]:
    """--input/--lake and their values; anything else (Glue's own arguments) is dropped."""
    known = {"--input", "--lake"}
    out, i = [], 0
    while i < len(argv):
        if argv[i] in known and i + 1 < len(argv):
            out += argv[i:i + 2]
            i += 2
        elif argv[i].split("=", 1)[0] in known:
            out.append(argv[i])
            i += 1
        else:
            i += 1
    return out


if __name__ == "__main__":
    build_parser()  # fail early on an import problem, before Spark starts
    sys.exit(main(["ingest", *_own_args(sys.argv[1:])]))
