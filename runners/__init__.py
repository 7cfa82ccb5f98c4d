"""runners of longbench-suite (see DESIGN.md)."""
