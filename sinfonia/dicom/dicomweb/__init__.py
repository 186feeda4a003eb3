"""DICOMweb front-end at ``/dicom-web``: QIDO-RS, WADO-RS and STOW-RS (PS3.18 §10.4-10.6).

Plain Django views (multipart bodies do not fit django-ninja). The package only parses
requests and encodes responses; who may see or store what is decided by `dicom.query`,
`dicom.services.retrieve` and `dicom.services.store`. Conformance: docs/dicom-conformance.md.
"""
