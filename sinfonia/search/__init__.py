"""Multi-criteria search over the tree and the DICOM index (docs/api.md, "Search")."""
