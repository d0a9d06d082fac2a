"""``python -m ss3d_eval``: same as the ``ss3d_eval`` console script."""

import sys

from ss3d_eval.cli import main

sys.exit(main())
