"""MODS: decorated templates, the template registry and execution documents."""
