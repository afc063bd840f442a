"""Tests of scratchcnn.functional (a package so module names cannot clash with other test folders)."""
