"""Entry script of the workers job for spark-submit (and Glue).

    spark-submit glue/workers.py --lake PATH (--activity PATH | --log-group NAME) [--lookback-minutes N]
        [--catalog-database NAME] [--on-failure fail|warn]

Arguments it does not know (Glue adds --JOB_NAME and others) are ignored.
"""
import sys

from gtlake.cli.glue_entry import entry

if __name__ == "__main__":
    sys.exit(entry("workers", {"--lake", "--activity", "--log-group", "--lookback-minutes", "--catalog-database", "--on-failure"}))
