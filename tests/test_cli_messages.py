"""Every mistake on the command line is one line naming the argument, exit 2, no traceback;
the Python API names the parameter; messages carry no internal labels; the SSL hint speaks
of the CLI's flags, which reach the client."""
from __future__ import annotations

import http.server
import json
import shutil
import ssl
import subprocess
import threading

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.cli import main
from bitrix_fast.cli.common import error_message, plural
from bitrix_fast.errors import ApiError, ConnectError
from portals_b import serve_clients_from

WEBHOOK = "http://127.0.0.1:9/rest/1/secretcode1/"


@pytest.fixture(autouse=True)
def webhook(monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", WEBHOOK)


def one_line(capsys):
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "secretcode1" not in err
    return lines[0]


@pytest.mark.parametrize("argv, names", [
    (["--params", '{"order": "x"}'], ["--params", "'order'", "dict"]),
    (["--params", '{"order": {"ID": "UP"}}'], ["--params", "'order'", "ASC"]),
    (["--params", '[1]'], ["--params", "JSON object", "a list"]),
    (["--params", '"x"'], ["--params", "a string"]),
    (["--params", '{"select": "ID"}'], ["--params", "'select'", "list"]),
    (["--params", '{"select": ["ID", 5]}'], ["--params", "'select'", "5"]),
    (["--params", '{"filter": [1]}'], ["--params", "'filter'", "dict"]),
    (["--params", '{"filter": {">ID": 1}}', "--filter", "ID=1"], ["--filter", "--params"]),
    (["--params", "{nope"], ["--params", "not JSON"]),
    (["--filter", "STAGE_ID"], ["--filter", "[OP]FIELD=VALUE"]),
    (["--filter", "=>ID=5"], ["--filter"]),
    (["--select", "ID,,TITLE"], ["--select"]),
    (["--ca-bundle", "/nonexistent/ca.pem"], ["--ca-bundle", "/nonexistent/ca.pem"]),
])
def test_export_argument_of_the_wrong_shape(argv, names, capsys):
    assert main(["export", "crm.deal.list", *argv]) == 2
    line = one_line(capsys)
    assert line.startswith("bitrix-fast export: ")
    for name in names:
        assert name in line


@pytest.mark.parametrize("argv, name", [
    (["--requests-per-second", "abc"], "--requests-per-second"),
    (["--requests-per-second", "0"], "--requests-per-second"),
    (["--request-pool-size", "1.5"], "--request-pool-size"),
    (["--retries", "-1"], "--retries"),
    (["--retries", "many"], "--retries"),
    (["--format", "xml"], "--format"),
    (["--plan", "free"], "--plan"),
    (["--ca-bundle", "x.pem", "--no-verify-ssl"], "--no-verify-ssl"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_argparse_mistakes_are_one_line_too(argv, name, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["export", "crm.deal.list", *argv])
    assert stop.value.code == 2
    line = one_line(capsys)
    assert line.startswith("bitrix-fast export: ") and name in line


def test_call_argument_mistakes(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["call", "crm.deal.add"])
    assert "--items" in one_line(capsys)
    assert main(["call", "crm deal add", "--items", str(tmp_path / "x.jsonl")]) == 2
    assert "not a REST method name" in one_line(capsys)


@pytest.mark.parametrize("params, exc, name", [
    ({"order": "x"}, TypeError, "'order'"),
    ({"Order": "ID"}, TypeError, "'Order'"),
    ({"order": {"ID": "UP"}}, ValueError, "'order'"),
    ({"order": {1: "ASC"}}, TypeError, "'order'"),
    ({"select": "ID"}, TypeError, "'select'"),
    ({"select": [None]}, TypeError, "'select'"),
    ({"filter": ["ID"]}, TypeError, "'filter'"),
    ({"filter": {5: 1}}, TypeError, "'filter'"),
    ({"start": 50}, ValueError, "'start'"),
])
def test_the_python_api_names_the_parameter_before_sending(params, exc, name):
    with Bitrix(WEBHOOK, verbose=False, retry=0) as bx:  # nothing listens there
        with pytest.raises(exc, match=name):
            bx.get_all("crm.deal.list", params)
        with pytest.raises(exc, match=name):
            next(bx.iter_all("crm.deal.list", params))
        assert bx.stats()["requests"] == 0


def test_user_get_takes_its_order_as_a_string():
    with Bitrix(WEBHOOK, verbose=False, retry=0) as bx:
        with pytest.raises(ValueError, match="'order'"):
            bx.get_all("user.get", {"sort": "ID", "order": "UP"})
        with pytest.raises(TypeError, match="'sort'"):
            bx.get_all("user.get", {"sort": {"ID": "ASC"}})


def test_messages_carry_no_batch_labels():
    error = ApiError("ACCESS_DENIED", "Access denied", status=403, method="crm.deal.list",
                     command_label="p0003")
    text = error_message("crm.deal.list", error)
    assert text == "crm.deal.list: ACCESS_DENIED (403) Access denied"


def test_the_ssl_hint_names_the_cli_flags():
    error = ConnectError("could not connect (for a self-hosted portal pass ssl=False or "
                         "ssl='/path/to/ca.pem'): SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] "
                         "certificate verify failed: self-signed certificate",
                         method="crm.deal.list")
    text = error_message("crm.deal.list", error)
    assert "ssl=" not in text
    assert "--ca-bundle FILE" in text and "--no-verify-ssl" in text
    # The same hint as a last clause of the message.
    error = ConnectError("could not connect to example.com: its TLS certificate is not trusted "
                         "([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed); for a "
                         "self-hosted portal with its own CA pass ssl='/path/to/ca.pem', or "
                         "ssl=False to skip the check", method="crm.deal.list")
    text = error_message("crm.deal.list", error)
    assert "ssl=" not in text and "--ca-bundle FILE" in text
    assert "certificate verify failed)" in text  # the reason stays
    plain = error_message("crm.deal.list", ConnectError("could not connect: refused",
                                                        method="crm.deal.list"))
    assert "--ca-bundle" not in plain


@pytest.mark.bitrix_sandbox(deals=1, plan="x10")
def test_no_ssl_hint_for_https_to_a_plain_http_portal(bitrix_sandbox, capsys):
    url = bitrix_sandbox.webhook.replace("http://", "https://")
    assert main(["export", "crm.deal.list", "--webhook", url, "--retries", "0"]) == 3
    line = one_line(capsys)
    assert "--ca-bundle" not in line and "ssl=" not in line


def test_plurals():
    assert plural(1, "row") == "1 row" and plural(0, "row") == "0 rows"
    assert plural(2500, "item") == "2,500 items"


@pytest.mark.bitrix_portal(deals=1, plan="x10")
def test_one_row_is_one_row(bitrix_portal, tmp_path, capsys, monkeypatch):
    serve_clients_from(monkeypatch, bitrix_portal)
    assert main(["export", "crm.deal.list", "--webhook", bitrix_portal.webhook,
                 "-o", str(tmp_path / "d.jsonl")]) == 0
    assert "crm.deal.list: 1 row to " in capsys.readouterr().err


# -- --ca-bundle and --no-verify-ssl reach the client -------------------------------------------

@pytest.fixture(scope="module")
def tls_portal(tmp_path_factory):
    """An HTTPS server with a self-signed certificate for 127.0.0.1 that refuses every
    webhook (401): getting that answer proves the TLS handshake passed."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Refuse(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": "INVALID_CREDENTIALS",
                               "error_description": "Invalid request credentials"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    # a short poll: shutdown() waits for the serving loop to look again
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/rest/1/secretcode1/", str(cert)
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_gets_the_cli_hint(tls_portal, capsys):
    url, _ = tls_portal
    assert main(["export", "crm.deal.list", "--webhook", url, "--retries", "0",
                 "-o", "-"]) == 3
    line = one_line(capsys)
    assert "certificate" in line and "--ca-bundle FILE" in line and "--no-verify-ssl" in line
    assert "ssl=" not in line


@pytest.mark.parametrize("flags", [["--ca-bundle", "{cert}"], ["--no-verify-ssl"]])
def test_the_tls_flags_reach_the_client(tls_portal, flags, capsys):
    url, cert = tls_portal
    argv = [flag.replace("{cert}", cert) for flag in flags]
    assert main(["export", "crm.deal.list", "--webhook", url, "--retries", "0", "-o", "-",
                 *argv]) == 3
    line = one_line(capsys)
    assert "INVALID_CREDENTIALS" in line and "certificate" not in line
