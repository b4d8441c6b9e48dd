"""The sandbox's own test CA (trustme), kept beside the database so that a restarted
server, or another process on the same database, presents a certificate its clients
already trust."""
import os
import secrets
import shutil
from pathlib import Path

import trustme

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


def _write_atomically(path, data, mode=0o644):
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    temporary.write_bytes(data)
    temporary.chmod(mode)
    os.replace(temporary, path)


def _ensure_ca(folder):
    """The CA's certificate and key as one pair: made in a private folder, then renamed into
    place, so that processes starting together agree on one CA (the first rename wins)."""
    ca_folder = folder / "ca"
    if ca_folder.is_dir():
        return ca_folder
    draft = folder / f".ca-{os.getpid()}-{secrets.token_hex(4)}"
    draft.mkdir()
    ca = trustme.CA(organization_name="EWS sandbox test CA")
    _write_atomically(draft / "ca-key.pem", ca.private_key_pem.bytes(), 0o600)
    _write_atomically(draft / "ca.pem", ca.cert_pem.bytes())
    try:
        os.rename(draft, ca_folder)
    except OSError:  # another process was first: use its CA
        shutil.rmtree(draft, ignore_errors=True)
    return ca_folder


class Certificates:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        ca_folder = _ensure_ca(self.folder)
        self.ca_bundle = ca_folder / "ca.pem"
        self.ca = trustme.CA.from_pem(self.ca_bundle.read_bytes(), (ca_folder / "ca-key.pem").read_bytes())
        issued = self.ca.issue_cert(*SERVER_NAMES)
        tag = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.cert_file = self.folder / f"server-{tag}.pem"
        self.key_file = self.folder / f"server-{tag}-key.pem"
        _write_atomically(self.cert_file, b"".join(pem.bytes() for pem in issued.cert_chain_pems))
        _write_atomically(self.key_file, issued.private_key_pem.bytes(), 0o600)

    def remove_server_files(self):
        for path in (self.cert_file, self.key_file):
            path.unlink(missing_ok=True)


def trusting_adapter(ca_bundle):
    """A requests adapter class that verifies servers against `ca_bundle` only; exchangelib
    takes TLS settings through `BaseProtocol.HTTP_ADAPTER_CLS` and nothing else."""
    import requests.adapters

    class TrustCABundle(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, verify, cert):
            return super().cert_verify(conn, url, ca_bundle, cert)

        def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
            # requests >= 2.32.3 picks the connection pool by `verify`: pin it too
            return super().get_connection_with_tls_context(request, ca_bundle, proxies=proxies, cert=cert)

    return TrustCABundle
