"""``python -m lmmcompare``: the ``lmmcompare`` command (:mod:`lmmcompare.cli`)."""

import sys

from lmmcompare.cli import main

sys.exit(main())
