"""The `storyteller` command line: one module per stage registers its subcommands; `main` wires them."""
