"""``python -m imagegate.cli``."""

from imagegate.cli.main import main

main()
