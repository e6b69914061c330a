"""``python -m streams.cli``: the same as the ``leadscore`` command."""

from streams.cli.main import main

main()
