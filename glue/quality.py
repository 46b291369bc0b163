"""Entry script of the quality job for spark-submit (and Glue).

    spark-submit glue/quality.py --lake PATH [--config FILE] [--catalog-database NAME] [--on-failure fail|warn]

Arguments it does not know (Glue adds --JOB_NAME and others) are ignored.
"""
import sys

from gtlake.cli.glue_entry import entry

if __name__ == "__main__":
    sys.exit(entry("quality", {"--lake", "--config", "--catalog-database", "--on-failure"}))
