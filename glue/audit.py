"""Entry script of the audit job for spark-submit (and Glue).

    spark-submit glue/audit.py --lake PATH [--match-iou X] [--tolerance-px X] [--catalog-database NAME] [--on-failure fail|warn]

Arguments it does not know (Glue adds --JOB_NAME and others) are ignored.
"""
import sys

from gtlake.cli.glue_entry import entry

if __name__ == "__main__":
    sys.exit(entry("audit", {"--lake", "--match-iou", "--tolerance-px", "--catalog-database", "--on-failure"}))
