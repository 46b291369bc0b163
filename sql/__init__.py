"""Athena SQL of the lake: `tables/` (DDL generated from gtlake.schemas) and `views/` (one SELECT per view)."""
