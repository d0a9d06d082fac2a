"""``python -m ss3d_core.evaluation``: same as the ``ss3d_eval`` console script."""

import sys

from ss3d_core.evaluation.cli import main

sys.exit(main())
