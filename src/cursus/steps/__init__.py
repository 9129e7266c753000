"""Step types: a declarative spec, a config class and a script for each."""
