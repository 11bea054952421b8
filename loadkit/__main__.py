"""``python -m loadkit``: the command line."""

from .cli import main

raise SystemExit(main())
