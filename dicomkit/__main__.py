"""``python -m dicomkit``: the same as the ``dicomkit`` command."""

from dicomkit.cli import main

raise SystemExit(main())
