"""``python -m op25b_app.cli``: the ``op25b`` command without the console script."""

import sys

from op25b_app.cli.main import main

sys.exit(main())
