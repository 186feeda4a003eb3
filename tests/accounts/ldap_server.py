"""A real OpenLDAP ``slapd`` on a loopback port, with a directory generated for the tests.

`start_directory` writes a ``slapd.conf`` (mdb database, the ppolicy overlay so that accounts
can be locked with ``pwdAccountLockedTime``), loads a generated LDIF with ``slapadd`` (people
under ``ou=people``, ``groupOfNames`` groups under ``ou=groups``, a read-only service account
that Sinfonia binds as), starts ``slapd -h ldap://127.0.0.1:PORT`` as the current user and
waits until it answers. `Directory` adds people, moves them between groups and locks them
while the tests run (as the directory's root DN, with python-ldap).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.transfers.live import free_port

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SUFFIX = "dc=sinfonia,dc=test"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
ROOT_DN = f"cn=admin,{SUFFIX}"
READER_DN = f"cn=reader,{SUFFIX}"
GROUP_NAMES = ("radiology", "oncology", "sinfonia-admins")
# ppolicy's "locked until an administrator unlocks it" value of pwdAccountLockedTime
LOCKED_FOREVER = "000001010000Z"


def ssha(password: str) -> str:
    """``{SSHA}`` hash of ``password`` as slappasswd makes it (SHA-1 of password + salt)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _schema_dir() -> Path:
    for candidate in (Path("/etc/ldap/schema"), Path("/etc/openldap/schema")):
        if (candidate / "core.schema").exists():
            return candidate
    raise RuntimeError("OpenLDAP schema files not found: ./run test installs slapd")


def _module_dir() -> Path:
    for candidate in (
        Path("/usr/lib/ldap"),
        Path("/usr/lib64/openldap"),
        Path("/usr/lib/openldap"),
    ):
        if list(candidate.glob("back_mdb*")):
            return candidate
    raise RuntimeError("slapd's back_mdb module not found: ./run test installs slapd")


def _tls_files(root: Path) -> str:
    """A throw-away CA and a certificate for 127.0.0.1 it signed; slapd.conf's TLS lines, which
    also refuse every operation before StartTLS (``security tls=1``)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    pem = serialization.Encoding.PEM

    def issue(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            import ipaddress

            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("Sinfonia test CA", ca_key, "Sinfonia test CA", ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue("127.0.0.1", key, "Sinfonia test CA", ca_key, ca=False)
    (root / "ca.pem").write_bytes(ca.public_bytes(pem))
    (root / "server.pem").write_bytes(cert.public_bytes(pem))
    (root / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return f"""TLSCACertificateFile {root / "ca.pem"}
TLSCertificateFile {root / "server.pem"}
TLSCertificateKeyFile {root / "server.key"}
security tls=1
"""


def _config(root: Path, root_password: str, tls: bool) -> str:
    schema = _schema_dir()
    includes = "\n".join(
        f"include {schema / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return f"""{includes}
modulepath {_module_dir()}
moduleload back_mdb
moduleload ppolicy
pidfile {root / "slapd.pid"}
argsfile {root / "slapd.args"}
{_tls_files(root) if tls else ""}
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ssha(root_password)}
directory {root / "db"}
maxsize 104857600
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{SUFFIX}"
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by users read
    by * none
"""


def _ldif(reader_password: str) -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: sinfonia\n"
        "o: Sinfonia tests",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: ou=policies,{SUFFIX}\nobjectClass: organizationalUnit\nou: policies",
        f"dn: cn=default,ou=policies,{SUFFIX}\nobjectClass: pwdPolicy\nobjectClass: person\n"
        "cn: default\nsn: default\npwdAttribute: userPassword\npwdLockout: TRUE\n"
        "pwdMaxFailure: 0\npwdLockoutDuration: 0",
        f"dn: {READER_DN}\nobjectClass: person\ncn: reader\nsn: reader\n"
        f"userPassword: {ssha(reader_password)}",
    ]
    # groupOfNames needs a member: the service account stands in until people join.
    entries += [
        f"dn: cn={name},{GROUPS}\nobjectClass: groupOfNames\ncn: {name}\nmember: {READER_DN}"
        for name in GROUP_NAMES
    ]
    return "\n\n".join(entries) + "\n"


@dataclass
class Directory:
    """A running slapd and the handles to change its directory."""

    root: Path
    port: int
    root_password: str
    reader_password: str
    tls: bool = False  # StartTLS required, with a certificate from ``ca_file``
    proc: subprocess.Popen[bytes] | None = None
    people: set[str] = field(default_factory=set)

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def env(self, **overrides: str) -> dict[str, str]:
        """``SINFONIA_LDAP_*`` settings that point Sinfonia at this directory."""
        return (
            {
                "SINFONIA_LDAP_URL": self.url,
                "SINFONIA_LDAP_BIND_DN": READER_DN,
                "SINFONIA_LDAP_BIND_PASSWORD": self.reader_password,
                "SINFONIA_LDAP_USER_BASE": PEOPLE,
                "SINFONIA_LDAP_GROUP_BASE": GROUPS,
                "SINFONIA_LDAP_MIRROR_GROUPS": "radiology,oncology",
                "SINFONIA_LDAP_ADMIN_GROUP": "sinfonia-admins",
            }
            | (
                {"SINFONIA_LDAP_STARTTLS": "1", "SINFONIA_LDAP_CA_FILE": str(self.ca_file)}
                if self.tls
                else {}
            )
            | overrides
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> None:
        log = (self.root / "slapd.log").open("ab")
        # -d 0: stay in the foreground (so the fixture owns the process) and log nothing.
        self.proc = subprocess.Popen(
            [SLAPD, "-d", "0", "-h", self.url, "-f", str(self.root / "slapd.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd exited ({self.proc.returncode}):\n{self.log()}")
            try:
                self.connect().unbind_s()
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return (self.root / "slapd.log").read_text(errors="replace")[-3000:]

    # -- changes, as the root DN ------------------------------------------------------------------
    def connect(self) -> Any:

        conn = self._connection()
        conn.simple_bind_s(ROOT_DN, self.root_password)
        return conn

    def _connection(self) -> Any:
        import ldap

        conn = ldap.initialize(self.url)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        if self.tls:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(self.ca_file))
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
            conn.start_tls_s()
        return conn

    def _modify(self, dn: str, changes: list[tuple[int, str, list[bytes] | None]]) -> None:
        conn = self.connect()
        try:
            conn.modify_s(dn, changes)
        finally:
            conn.unbind_s()

    def add_person(
        self,
        uid: str,
        password: str,
        *,
        given: str = "Ada",
        surname: str = "Lovelace",
        mail: str = "",
        groups: Iterable[str] = (),
    ) -> str:
        """Add ``uid=UID,ou=people`` (an inetOrgPerson) and put it in ``groups``; its DN."""
        import ldap.modlist

        dn = f"uid={uid},{PEOPLE}"
        attrs = {
            "objectClass": [b"inetOrgPerson"],
            "uid": [uid.encode()],
            "cn": [f"{given} {surname}".encode()],
            "givenName": [given.encode()],
            "sn": [surname.encode()],
            "mail": [(mail or f"{uid}@example.org").encode()],
            "userPassword": [ssha(password).encode()],
        }
        conn = self.connect()
        try:
            conn.add_s(dn, ldap.modlist.addModlist(attrs))
        finally:
            conn.unbind_s()
        self.people.add(uid)
        for group in groups:
            self.join(uid, group)
        return dn

    def join(self, uid: str, group: str) -> None:
        import ldap

        member = f"uid={uid},{PEOPLE}".encode()
        self._modify(f"cn={group},{GROUPS}", [(ldap.MOD_ADD, "member", [member])])

    def leave(self, uid: str, group: str) -> None:
        import ldap

        member = f"uid={uid},{PEOPLE}".encode()
        self._modify(f"cn={group},{GROUPS}", [(ldap.MOD_DELETE, "member", [member])])

    def lock(self, uid: str, when: str = LOCKED_FOREVER) -> None:
        """Lock the account with ppolicy: binds as it fail until `unlock`. ``when`` is the
        time of a lock-out after failed binds; by default, a lock by an administrator."""
        import ldap

        self._modify(
            f"uid={uid},{PEOPLE}", [(ldap.MOD_REPLACE, "pwdAccountLockedTime", [when.encode()])]
        )

    def remove(self, uid: str) -> None:
        conn = self.connect()
        try:
            conn.delete_s(f"uid={uid},{PEOPLE}")
        finally:
            conn.unbind_s()
        self.people.discard(uid)

    def unlock(self, uid: str) -> None:
        import ldap

        self._modify(f"uid={uid},{PEOPLE}", [(ldap.MOD_DELETE, "pwdAccountLockedTime", None)])

    def can_bind(self, uid: str, password: str) -> bool:
        import ldap

        conn = self._connection()
        try:
            conn.simple_bind_s(f"uid={uid},{PEOPLE}", password)
        except ldap.INVALID_CREDENTIALS:
            return False
        finally:
            conn.unbind_s()
        return True


def start_directory(root: Path, *, tls: bool = False) -> Directory:
    """Generate a directory in ``root`` (empty) and start slapd on a free loopback port; with
    ``tls``, one that refuses everything before StartTLS."""
    if not Path(SLAPD).exists():
        raise RuntimeError("slapd is missing: ./run test installs the Debian slapd package")
    (root / "db").mkdir(parents=True)
    directory = Directory(
        root=root,
        port=free_port(),
        root_password=secrets.token_urlsafe(12),
        reader_password=secrets.token_urlsafe(12),
        tls=tls,
    )
    (root / "slapd.conf").write_text(_config(root, directory.root_password, tls))
    (root / "data.ldif").write_text(_ldif(directory.reader_password))
    subprocess.run(
        [SLAPADD, "-q", "-f", str(root / "slapd.conf"), "-l", str(root / "data.ldif")],
        check=True,
        capture_output=True,
    )
    directory.start()
    return directory
