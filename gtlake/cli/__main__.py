"""`python -m gtlake.cli ...`: the `gtlake` command."""
import sys

from gtlake.cli import main

sys.exit(main())
