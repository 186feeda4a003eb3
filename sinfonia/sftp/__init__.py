"""The SFTP front-end: an asyncssh server started by ``sinfonia serve``.

Each user sees ``/home`` (their staging area, `transfers.services.staging`) and
``/repository`` (the collections tree as they may see it). Every operation is a call to the
service layer; this package only translates the protocol. See docs/architecture.md.
"""
