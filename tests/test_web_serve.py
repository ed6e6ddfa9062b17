"""``evacops serve`` as a process: it serves the app over HTTP and over TLS with a self-signed
certificate (cookies then Secure), and refuses flags that do not go together."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from evacops.registry import init_registry
from evacops.registry.settings import RegistrySettings

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evacops-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def env(tmp_path):
    settings = RegistrySettings(
        database_url=f"sqlite:///{tmp_path / 'reg.db'}", key_file=tmp_path / "keys" / "master.key"
    )
    init_registry(settings, admin="admin", password="test-password-1")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EVACOPS_DATABASE_URL": settings.database_url,
        "EVACOPS_KEY_FILE": str(settings.key_file),
    }


def _serve(env, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "evacops.cli", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait(url: str, **kw) -> httpx.Response:
    for _ in range(100):
        try:
            return httpx.get(url, timeout=2, **kw)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url}: the server never answered")


@pytest.mark.parametrize("flags", [[], ["--access-log"], ["--workers", "2"]])
def test_serve_over_http(env, flags):
    """Served over HTTP (by two workers over one SQLite file too); a line per request in its
    output only with ``--access-log``."""
    port = _free_port()
    proc = _serve(env, "--port", str(port), *flags)
    try:
        r = _wait(f"http://127.0.0.1:{port}/api/v1/health")
        assert r.json() == {"status": "ok"}
        login = httpx.get(f"http://127.0.0.1:{port}/login")
        assert "Secure" not in login.headers["set-cookie"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert "evacops: serving on" in output
    assert ('"GET /login HTTP/1.1" 200' in output) == ("--access-log" in flags), output


def test_serve_over_tls_with_a_self_signed_certificate(env, tmp_path):
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    env = {k: v for k, v in env.items() if k != "EVACOPS_COOKIE_SECURE"}
    proc = _serve(env, "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        r = _wait(f"https://localhost:{port}/login", verify=trust)
        assert r.status_code == 200
        assert "Secure" in r.headers["set-cookie"]
        with pytest.raises(httpx.ConnectError):  # the certificate is what the client trusts
            httpx.get(f"https://localhost:{port}/login", verify=True, timeout=2)
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_refuses_flags_that_do_not_go_together(env, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "evacops.cli", "serve", "--tls-cert", "x.pem"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--tls-key" in r.stderr + r.stdout


def test_serve_freezes_the_start_up_out_of_the_collectors_sight(env, monkeypatch):
    """``evacops serve`` turns ``EVACOPS_GC_FREEZE`` on for its workers (unless it is set); an
    app with it collects once and freezes what the start-up made, and thaws it when it stops;
    an app without it (a test's) leaves the collector alone."""
    import gc

    import uvicorn
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from evacops.cli import app as cli
    from evacops.web.app import create_app
    from evacops.web.config import WebSettings

    ran: list = []
    monkeypatch.setattr(
        uvicorn, "run", lambda *a, **k: ran.append(os.environ.get("EVACOPS_GC_FREEZE"))
    )
    for k in ("EVACOPS_DATABASE_URL", "EVACOPS_KEY_FILE"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.delenv("EVACOPS_GC_FREEZE", raising=False)
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    monkeypatch.setenv("EVACOPS_GC_FREEZE", "false")  # an operator's own choice is kept
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    assert ran == ["true", "false"]
    assert gc.get_freeze_count() == 0
    settings = {"database_url": env["EVACOPS_DATABASE_URL"], "key_file": env["EVACOPS_KEY_FILE"]}
    with TestClient(create_app(WebSettings(**settings, gc_freeze=False))) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert gc.get_freeze_count() == 0
    with TestClient(create_app(WebSettings(**settings, gc_freeze=True))) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the modules, the app, its routes and models
    assert gc.get_freeze_count() == 0
