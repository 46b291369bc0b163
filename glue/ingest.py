"""Entry script of the ingest job for spark-submit (and Glue).

    spark-submit glue/ingest.py --input PATH --lake PATH [--catalog-database NAME] [--on-failure fail|warn]
                                [--labels-reader arrow|spark]

Arguments it does not know (Glue adds --JOB_NAME and others) are ignored.
"""
import sys

from gtlake.cli.glue_entry import entry

if __name__ == "__main__":
    sys.exit(entry("ingest", {"--input", "--lake", "--catalog-database", "--on-failure", "--labels-reader"}))
