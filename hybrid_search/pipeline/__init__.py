"""Stages composed one floor above data/, es/ and evaluation/: index a corpus, run the challenge, tune on valid."""
