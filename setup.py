"""gtlake: a label-quality data lake for Amazon SageMaker Ground Truth.

The packages and the folders they come from are stated once, in gtlake/packages.py (read here as plain data,
before anything is installed).
"""
import os
import runpy

from setuptools import setup

_LAYOUT = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "gtlake", "packages.py"))

# AWS Glue 5.0 ships these exact versions; pin them so what passes here runs there.
GLUE_RUNTIME = [
    "pyspark==3.5.4",
    "pandas==2.2.2",
    "numpy==1.26.4",
    "pyarrow==17.0.0",
    "scipy==1.13.1",  # linear_sum_assignment for the audit's box matching (built for numpy 1.26)
    "boto3>=1.34",
    "great_expectations==1.24.1",  # the data-quality suites (`gtlake validate`); not on Glue: shipped as a module
    "awswrangler==3.11.0",  # the Glue Data Catalog sync and Athena (AWS SDK for pandas); not on Glue: shipped as a module
]

LOCAL = [  # the embedded SQL engine (`gtlake sql`); not needed on Glue
    "duckdb>=1.1",
    "sqlglot==30.30.0",
    "plotly==5.23.0",  # the dashboard page (Glue ships the same version)
]

EMBED = [  # the appearance check (`gtlake embed`); torch==2.13.0 takes the local CPU wheel here (see README)
    "torch==2.13.0",
    "pillow>=10,<14",
]

DEV = LOCAL + EMBED + [
    "pytest>=8",
    "hypothesis>=6.100",  # property-based tests of the parsers of untrusted input (and `make fuzz`)
    "chispa>=0.10",
    "moto[server]>=5.0",
    "psutil>=5.9",
    "motmetrics==1.4.0",  # reference CLEAR MOT / IDF1 implementation the audit job and the MOT export are tested against
    "pycocotools==2.0.11",  # the COCO export is read back with the reference COCO API
    "cfn-lint>=1.20",  # the CloudFormation template is linted in the tests
    "pyyaml>=6",
    "wheel>=0.42",  # `gtlake deploy` builds the wheel offline (--no-build-isolation)
    "ruff==0.17.6",  # the linter `make test` runs (ruff.toml)
    "pytest-xdist==3.8.0",  # `make test` runs the test files in two processes
    "pytest-random-order==1.2.0",  # `make test-shuffled`: the tests pass in any order (off unless asked for)
    "playwright==1.65.2",  # the pages tested with clicks, driving Debian's chromium (never downloads a browser)
]

setup(
    name="gtlake",
    version="0.1.0",
    description="Label-quality data lake for SageMaker Ground Truth video labeling jobs",
    python_requires=">=3.11,<3.12",
    packages=list(_LAYOUT["PACKAGE_DIR"]),
    package_dir=_LAYOUT["PACKAGE_DIR"],
    package_data=_LAYOUT["PACKAGE_DATA"],
    install_requires=GLUE_RUNTIME,
    extras_require={"local": LOCAL, "embed": EMBED, "dev": DEV},
    entry_points={"console_scripts": ["gtlake=gtlake.cli:main"]},
)
