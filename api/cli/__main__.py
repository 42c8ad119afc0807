"""``python -m api.cli``: the lifeledger command line."""

from api.cli.main import main

main()
