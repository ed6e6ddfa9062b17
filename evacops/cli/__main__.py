"""``python -m evacops.cli``: the command line, as the ``evacops`` script runs it."""

from evacops.cli import main

main()
