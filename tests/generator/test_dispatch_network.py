"""The networks the dispatcher meets on a runner: an HTTP proxy, NO_PROXY, and a private CA for GitHub Enterprise.

Real sockets on 127.0.0.1: a tiny forwarding proxy (absolute-form requests, no CONNECT) and a tiny HTTPS server whose
certificate is issued by a CA made in the test.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from meshpipe.fakes.github import FakeGitHub
from tests.generator.test_dispatch_integration import one_error_line, run_dispatcher, setup_repo


class _Proxy(BaseHTTPRequestHandler):
    """Forwards absolute-form requests to their origin and records the URLs it was asked for."""

    seen: list[str]

    def _forward(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        target = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def do_CONNECT(self) -> None:
        """A tunnel for HTTPS: bytes are copied both ways until either side closes."""
        self.server.seen.append(f"CONNECT {self.path}")  # type: ignore[attr-defined]
        self.server.auth.append(self.headers.get("Proxy-Authorization"))  # type: ignore[attr-defined]
        host, port = self.path.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                sink.close()

        threading.Thread(target=pump, args=(upstream, self.connection), daemon=True).start()
        pump(self.connection, upstream)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.seen = []  # type: ignore[attr-defined]
    server.auth = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_proxy_from_the_environment_carries_the_requests(
    fake_github: FakeGitHub, tmp_path: Path, proxy: ThreadingHTTPServer
) -> None:
    setup_repo(fake_github)
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}"}
    result = run_dispatcher(fake_github, tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert len(fake_github.dispatches) == 1
    assert proxy.seen == [f"{fake_github.api_url}/repos/acme/infra/actions/workflows/apply.yml/dispatches"]  # type: ignore[attr-defined]


def test_no_proxy_sends_directly(fake_github: FakeGitHub, tmp_path: Path, proxy: ThreadingHTTPServer) -> None:
    setup_repo(fake_github)
    env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}", "NO_PROXY": "127.0.0.1"}
    result = run_dispatcher(fake_github, tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert len(fake_github.dispatches) == 1
    assert proxy.seen == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------ private CA


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA (ca.pem) and a server certificate for 127.0.0.1 it issued (server.pem, server.key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshpipe test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class _Accepting(BaseHTTPRequestHandler):
    """Answers every dispatch with 204, as GitHub Enterprise Server does, and records the paths."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, Path]]:
    ca, certificate, key = _certificates(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    server.seen = []  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, ca
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("variable", ["CUSTOM_CA_CERTS_PATH", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_a_private_ca_bundle_from_the_environment_is_trusted(
    fake_github: FakeGitHub, tmp_path: Path, tls_server: tuple[ThreadingHTTPServer, Path], variable: str
) -> None:
    """Reproduction (old code): CUSTOM_CA_CERTS_PATH set -> CERTIFICATE_VERIFY_FAILED (the variable was ignored)."""
    server, ca = tls_server
    api_url = f"https://127.0.0.1:{server.server_address[1]}/api/v3"
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {variable: str(ca)}
    result = run_dispatcher(fake_github, workdir, env=env, api_url=api_url, correlation_input=None)
    assert result.returncode == 0, result.stderr
    assert server.seen == ["/api/v3/repos/acme/infra/actions/workflows/apply.yml/dispatches"]  # type: ignore[attr-defined]


def test_an_untrusted_certificate_is_one_line_naming_the_ca_variables_and_is_never_resent(
    fake_github: FakeGitHub, tmp_path: Path, tls_server: tuple[ThreadingHTTPServer, Path]
) -> None:
    server, _ = tls_server
    api_url = f"https://127.0.0.1:{server.server_address[1]}/api/v3"
    result = run_dispatcher(fake_github, tmp_path, api_url=api_url, correlation_input=None)
    line = one_error_line(result)
    assert "CERTIFICATE_VERIFY_FAILED" in line and "CUSTOM_CA_CERTS_PATH" in line
    assert server.seen == []  # type: ignore[attr-defined]
    assert "sending the dispatch again" not in result.stdout  # a rejected certificate is not retried


def test_an_unreadable_ca_bundle_is_one_line(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    line = one_error_line(run_dispatcher(fake_github, tmp_path, env={"CUSTOM_CA_CERTS_PATH": str(tmp_path / "no")}))
    assert line.startswith("meshpipe-dispatch: error: CUSTOM_CA_CERTS_PATH: cannot load the CA bundle ")
    assert fake_github.log() == []


def test_https_goes_through_the_proxys_connect_tunnel_with_its_credentials(
    fake_github: FakeGitHub,
    tmp_path: Path,
    tls_server: tuple[ThreadingHTTPServer, Path],
    proxy: ThreadingHTTPServer,
) -> None:
    server, ca = tls_server
    port = server.server_address[1]
    env = {
        "CUSTOM_CA_CERTS_PATH": str(ca),
        "HTTPS_PROXY": f"http://deploy:p%40ss-CANARY@127.0.0.1:{proxy.server_address[1]}",
    }
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_dispatcher(
        fake_github, workdir, env=env, api_url=f"https://127.0.0.1:{port}/api/v3", correlation_input=None
    )
    assert result.returncode == 0, result.stderr
    assert proxy.seen == [f"CONNECT 127.0.0.1:{port}"]  # type: ignore[attr-defined]
    assert proxy.auth == ["Basic ZGVwbG95OnBAc3MtQ0FOQVJZ"]  # type: ignore[attr-defined]  # deploy:p@ss-CANARY
    assert server.seen == ["/api/v3/repos/acme/infra/actions/workflows/apply.yml/dispatches"]  # type: ignore[attr-defined]
    assert "CANARY" not in result.stdout + result.stderr
