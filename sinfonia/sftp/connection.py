"""What a user needs to connect: host, port, user name, host key, and how to use a client."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sinfonia.core.context import Actor
from sinfonia.sftp import server


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    enabled: bool
    host: str
    port: int
    username: str
    fingerprint: str
    instructions: dict[str, str]


def configured_port() -> int:
    running = server.running()
    if running is not None:
        return running.port
    return int(os.environ.get("SINFONIA_SFTP_PORT", "2222"))


def hostname_of(host: str) -> str:
    """The host a user reached the portal by, without its port ([::1]:8080 -> ::1)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def connection_info(actor: Actor, host: str) -> ConnectionInfo:
    """``host`` is the name the user reached the portal by (the SFTP server shares it)."""
    running = server.running()
    port = configured_port()
    user = actor.username
    fingerprint = running.fingerprint if running is not None else server.fingerprint()
    target = f"{user}@{host}" if ":" not in host else f"{user}@[{host}]"
    return ConnectionInfo(
        enabled=port != 0,
        host=host,
        port=port,
        username=user,
        fingerprint=fingerprint,
        instructions={
            "command_line": (
                f"sftp -P {port} {target}  (then: put -r LOCAL_DIR /home/ or "
                f"/repository/..., get -r, reput/reget to resume). Sign in with your portal "
                "password (an API key if you use two-factor log-in), or add your public key "
                "(~/.ssh/id_ed25519.pub) in your profile."
            ),
            "filezilla": (
                f"File > Site Manager > New site: protocol SFTP, host {host}, port {port}, "
                f"logon type Normal (password) or Key file, user {user}."
            ),
            "winscp": (
                f"New Site: file protocol SFTP, host name {host}, port number {port}, user "
                f"name {user}; for a key, Advanced > SSH > Authentication > private key file."
            ),
            "host_key": (
                f"On first connection the client shows the server's key fingerprint; accept "
                f"it only if it reads {fingerprint}."
            ),
        },
    )
