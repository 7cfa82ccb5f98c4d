"""longbench-suite: benchmarks of long-term memory for LLMs and memory-augmented systems."""

__version__ = "0.1.0"
