"""DIMSE front-end (pynetdicom): C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE as an SCP.

Layers, one module each (docs/dicom-conformance.md has the conformance statement):

- `server`: the application entity, its presentation contexts, start and stop.
- `association`: calling AE title → user (A-ASSOCIATE-RJ for unknown callers), the session
  of each association, database connections per association thread.
- `handlers`: one event handler per DIMSE service; they call dicom services and selectors.
- `identifiers`: C-FIND/C-GET/C-MOVE identifiers ↔ `sinfonia.dicom.query` filters.
- `transfer`: C-STORE sub-operations of C-GET and C-MOVE (contexts, transfer syntaxes).
- `status`: the one translator from service errors to DIMSE status.

Association establishment (PS3.8 §9.3.4)
    A-ASSOCIATE-AC    the Calling AE Title is configured (``sinfonia dicom ae add``) with an
                      active user
    A-ASSOCIATE-RJ    result 1 (permanent), source 1 (service-user), reason 3 (calling AE title
                      not recognised) otherwise

Status codes sent, per service
    C-ECHO    0x0000  Success
    C-STORE   0x0000  Success: stored (or the same bytes were stored there already)
              0x0124  Refused: Not authorised - the mapped user may not write to the
                      destination (or it no longer exists)
              0xA700  Refused: Out of resources - storage or database failure
              0xC000  Error: Cannot understand - undecodable data set, or SOP Class, SOP
                      Instance, Study or Series Instance UID missing
              0x0110  Processing failure - another instance under that SOP Instance UID is
                      stored in the same place
    C-FIND    0xFF00  Pending: one match (identifier attached)
              0x0000  Success: no more matches
              0xFE00  Cancel: C-CANCEL received
              0xC000  Error: Cannot understand - invalid Query/Retrieve Level, a key below the
                      level, a key whose matching is not supported, a malformed value
    C-GET     0xFF00  Pending: sub-operation counts (Remaining, Completed, Failed, Warning)
              0x0000  Success: every C-STORE sub-operation completed
              0xB000  Warning: some sub-operations failed (Failed SOP Instance UID List)
              0xA702  Failure: every sub-operation failed
              0xFE00  Cancel: C-CANCEL received
              0xC000  Error: Cannot understand - invalid identifier (unique key missing)
    C-MOVE    as C-GET, plus
              0xA801  Refused: Move Destination unknown - not a configured AE with host and
                      port, or it could not be reached

Only instances whose files the mapped user may read are found and retrieved
(`query.visible_instances`, the rule behind every listing), and every instance sent is an
audited read.
"""
