"""The `cursus` command: parses arguments and calls the same functions the Python API offers."""
