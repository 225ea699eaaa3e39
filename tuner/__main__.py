"""``python -m tuner`` is the ``tune`` command (torchtune also installs a ``tune``)."""

from tuner.cli import main

main(prog_name="tune")
