"""``python -m benchmarks``: the nightly loop end to end at 1M and 10M rows (nightly_bench)."""

import sys

from benchmarks.nightly_bench import main

sys.exit(main())
