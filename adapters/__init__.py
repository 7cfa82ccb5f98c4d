"""adapters of longbench-suite (see DESIGN.md)."""
