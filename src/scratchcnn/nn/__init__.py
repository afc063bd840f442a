"""Stateful modules (PyTorch names): to be written."""
