"""Optimisers: to be written."""
