"""data_builders of longbench-suite (see DESIGN.md)."""
