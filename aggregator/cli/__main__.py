"""``python -m aggregator.cli`` is the ``aggregator`` command (tests start processes this way)."""

import sys

from . import main

sys.exit(main())
