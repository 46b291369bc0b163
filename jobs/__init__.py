"""Spark jobs: each reads lake tables or raw input, applies pure transforms, writes lake tables."""
