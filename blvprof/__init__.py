"""blvprof: what efficient video models really cost (MACs, memory, time) and what they buy."""

__version__ = "0.1.0"
