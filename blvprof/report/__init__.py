"""Rendering: records in, markdown, tables and charts out. Nothing here imports torch."""
