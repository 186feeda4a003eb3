"""Writes on the tree: one function per operation, each checking access and recording audit."""
