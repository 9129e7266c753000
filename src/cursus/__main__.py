"""`python -m cursus` is the `cursus` command."""

from cursus.cli.main import main

main()
