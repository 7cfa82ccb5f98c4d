"""tasks of longbench-suite (see DESIGN.md)."""
