"""The DIMSE SCP that `sinfonia serve` runs in background threads: the application entity, its
presentation contexts, and starting and stopping it."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    evt,
)
from pynetdicom.transport import ThreadedAssociationServer

from sinfonia.dicom.dimse import association, handlers, identifiers
from sinfonia.dicom.services.remote_aes import clean_ae_title

log = logging.getLogger("sinfonia.dimse")

DEFAULT_PORT = 11112
DEFAULT_AE_TITLE = "SINFONIA"
MAX_ASSOCIATIONS = 32
STOP_GRACE_SECONDS = 5.0


def make_ae(ae_title: str) -> AE:
    """The application entity with every context Sinfonia serves (docs/dicom-conformance.md)."""
    ae = AE(ae_title=clean_ae_title(ae_title))
    ae.maximum_associations = MAX_ASSOCIATIONS
    ae.acse_timeout = 30
    ae.dimse_timeout = 120
    ae.network_timeout = 300
    ae.add_supported_context(identifiers.VERIFICATION, ALL_TRANSFER_SYNTAXES[:4])
    # Storage SCP for every storage SOP class pynetdicom knows, in any transfer syntax (data
    # are stored as received). SCU role too, as C-GET sends back over the same association:
    # a requestor proposing the SCP role for a storage class gets it (PS3.7 D.3.3.4).
    for cx in AllStoragePresentationContexts:
        assert cx.abstract_syntax is not None
        ae.add_supported_context(
            cx.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True
        )
    for model in identifiers.MODELS:
        ae.add_supported_context(model, ALL_TRANSFER_SYNTAXES[:4])
    return ae


@dataclass
class DimseServer:
    """The SCP listening on ``host:port`` as ``ae_title``; `start` returns at once."""

    host: str
    port: int
    ae_title: str = DEFAULT_AE_TITLE
    ae: AE = field(init=False)
    _server: ThreadedAssociationServer | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.ae = make_ae(self.ae_title)
        self.ae_title = self.ae.ae_title

    def start(self) -> None:
        """Listen in a background thread. OSError when the port cannot be bound."""
        if os.environ.get("SINFONIA_LOG_LEVEL", "info").lower() != "debug":
            logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        handlers_: list[Any] = [
            (evt.EVT_REQUESTED, association.on_requested),
            (evt.EVT_RELEASED, association.on_ended),
            (evt.EVT_ABORTED, association.on_ended),
            (evt.EVT_C_ECHO, handlers.on_echo),
            (evt.EVT_C_STORE, handlers.on_store),
            (evt.EVT_C_FIND, handlers.on_find, [self.ae_title]),
            (evt.EVT_C_GET, handlers.on_get),
            (evt.EVT_C_MOVE, handlers.on_move),
        ]
        self._server = self.ae.start_server(
            (self.host, self.port), block=False, evt_handlers=handlers_
        )
        self.port = self._server.server_address[1] if self._server else self.port
        log.info("DIMSE SCP %s listening on %s:%d", self.ae_title, self.host, self.port)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop accepting; let running associations finish for ``grace`` seconds, then abort
        what is left."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server = None
        deadline = time.monotonic() + grace
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ae.shutdown()
