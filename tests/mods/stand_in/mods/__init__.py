"""A stand-in for the real `mods` package: its decorator builds the class with its own metaclass."""
