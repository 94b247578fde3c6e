"""``python -m imdata``: the same as the ``imdata`` command."""

from imdata.cli import main

main()
