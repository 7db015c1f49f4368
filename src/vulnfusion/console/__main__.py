"""``python -m vulnfusion.console …`` = the ``vulnfusion`` command (MLproject entry points
run it this way, with no installed script needed)."""

from vulnfusion.console import main

main(prog_name="vulnfusion")
