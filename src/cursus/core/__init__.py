"""Config files, the resolver, the Plan and the compiler."""
