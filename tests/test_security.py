"""Security: credentials only from the environment or a private config file and never shown, TLS verified by
default, the local node on 127.0.0.1 as an unprivileged user, validated names and confirmed deletes."""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from tls_proxy import TlsProxy, self_signed_certificate

from hybrid_search import HybridError
from hybrid_search.cli import cli
from hybrid_search.config import EsSettings, read_config
from hybrid_search.es import indexing
from hybrid_search.es.client import connect
from hybrid_search.es.install import ES_VERSION
from hybrid_search.es.node import UNPRIVILEGED_USER
from hybrid_search.pipeline.build import build_index

REPO = Path(__file__).resolve().parents[1]
API_KEY, USER, PASSWORD = "apikey-Zq81x-SECRET", "reader", "pw-7Hq2-SECRET"
SECRETS = (API_KEY, PASSWORD)
CREDENTIAL_ENV = ("HYBRID_ES_API_KEY", "HYBRID_ES_USER", "HYBRID_ES_PASSWORD", "HYBRID_ES_CA_CERTS", "HYBRID_ES_URL")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No credentials from the caller's environment; the config file looked for in an empty folder."""
    for name in (*CREDENTIAL_ENV, "HYBRID_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return monkeypatch


def write_config(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


CONFIG = f"""
[elasticsearch]
url = "https://es.example.internal:9243"
username = "{USER}"
password = "{PASSWORD}"
ca_certs = "/etc/ssl/cluster-ca.pem"
"""


# ---------------------------------------------------------------- config file


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
def test_config_file_open_to_group_or_others_is_refused(clean_env, tmp_path, mode):
    path = write_config(tmp_path / "xdg" / "hybrid-search" / "config.toml", CONFIG, mode)
    with pytest.raises(HybridError) as error:
        EsSettings.from_env()
    message = str(error.value)
    assert f"config file {path} is open to group or others (mode {mode:o})" in message
    assert f"chmod 600 {path}" in message and not any(secret in message for secret in SECRETS)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_config_file_is_used_and_the_environment_overrides_it(clean_env, tmp_path, mode):
    write_config(tmp_path / "xdg" / "hybrid-search" / "config.toml", CONFIG, mode)
    settings = EsSettings.from_env()
    assert (settings.url, settings.username, settings.password, settings.api_key, settings.ca_certs) == (
        "https://es.example.internal:9243",
        USER,
        PASSWORD,
        None,
        "/etc/ssl/cluster-ca.pem",
    )
    clean_env.setenv("HYBRID_ES_PASSWORD", "from-env")
    clean_env.setenv("HYBRID_ES_URL", "https://env.example:9200")
    settings = EsSettings.from_env()
    assert (settings.url, settings.username, settings.password) == ("https://env.example:9200", USER, "from-env")
    assert EsSettings.from_env("http://flag.example:9200").url == "http://flag.example:9200"


def test_config_file_named_by_hybrid_config_must_exist(clean_env, tmp_path):
    clean_env.setenv("HYBRID_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(HybridError, match="config file not found: .*missing.toml .HYBRID_CONFIG."):
        EsSettings.from_env()
    clean_env.delenv("HYBRID_CONFIG")
    assert EsSettings.from_env().url == "http://127.0.0.1:9200"  # no file where none was asked for: defaults


@pytest.mark.parametrize(
    "text, expected",
    [
        (f'[elasticsearch]\npassword = {PASSWORD}"\n', "is not valid TOML: Invalid value (at line 2"),
        (f'[elasticsearch]\npasswd = "{PASSWORD}"\n', "unknown key 'passwd' in [elasticsearch]"),
        ("[elasticsearch]\npassword = 12345\n", "'password' must be a string"),
    ],
)
def test_broken_config_file_is_one_line_that_never_quotes_it(tmp_path, text, expected):
    path = write_config(tmp_path / "c.toml", text, 0o600)
    with pytest.raises(HybridError) as error:
        read_config(path)
    assert expected in str(error.value) and PASSWORD not in str(error.value) and "\n" not in str(error.value)


def test_other_users_config_file_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    path = write_config(tmp_path / "c.toml", CONFIG, 0o600)
    os.chown(path, pwd.getpwnam(UNPRIVILEGED_USER).pw_uid, -1)
    with pytest.raises(HybridError, match="belongs to another user"):
        read_config(path)


def test_config_file_error_does_not_stop_commands_that_need_no_cluster(clean_env, tmp_path):
    write_config(tmp_path / "xdg" / "hybrid-search" / "config.toml", CONFIG, 0o644)
    assert CliRunner().invoke(cli, ["--version"]).exit_code == 0
    result = CliRunner().invoke(cli, ["search", "read a file"])
    assert result.exit_code == 1 and result.output.startswith("error: config file") and result.output.count("\n") == 1


# ---------------------------------------------------------------- credentials never shown


def test_credentials_in_the_url_are_refused_without_echoing_them(clean_env):
    for url in (f"https://{USER}:{PASSWORD}@es.example:9200", f"{USER}:{PASSWORD}@es.example:9200"):
        result = CliRunner().invoke(cli, ["--es-url", url, "search", "read a file"])
        assert result.exit_code == 1 and "must not hold credentials" in result.output
        assert PASSWORD not in result.output


def test_no_credential_can_be_given_on_the_command_line():
    def parameters(command: click.Command, path: str = "hybrid"):
        for param in command.params:
            yield path, param
        for name, sub in getattr(command, "commands", {}).items():
            yield from parameters(sub, f"{path} {name}")

    found = [(path, p.name) for path, p in parameters(cli)]
    assert len(found) > 50  # every command's options were walked
    words = ("password", "passwd", "secret", "token", "api_key", "apikey", "user", "auth", "insecure", "verify")
    assert [(path, name) for path, name in found if any(word in name.lower() for word in words)] == []


def test_secrets_never_in_repr_errors_or_output(clean_env, tmp_path):
    clean_env.setenv("HYBRID_ES_API_KEY", API_KEY)
    clean_env.setenv("HYBRID_ES_USER", USER)
    clean_env.setenv("HYBRID_ES_PASSWORD", PASSWORD)
    settings = EsSettings.from_env("https://127.0.0.1:9")  # https, nothing listening
    assert settings.api_key == API_KEY and not any(secret in repr(settings) for secret in SECRETS)
    with pytest.raises(HybridError) as error:
        connect(settings, request_timeout=2)
    assert error.value.__cause__ is None and error.value.__suppress_context__  # `from None`: nothing chained
    assert not any(secret in str(error.value) or secret in repr(error.value) for secret in SECRETS)
    assert not any(secret in repr(connect(settings, check=False)) for secret in SECRETS)

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args in (["es", "status"], ["search", "read a file"], ["indices", "list"], ["eval", "--data", str(tmp_path)]):
        result = subprocess.run(
            [sys.executable, "-m", "hybrid_search.cli", "--es-url", settings.url, *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        shown = result.stdout + result.stderr
        assert shown and not any(secret in shown for secret in SECRETS), args
        assert "Traceback" not in shown


@pytest.fixture(scope="module")
def https_es(es_settings, tmp_path_factory):
    """The shared node behind a TLS front with a fresh self-signed certificate: (url, certificate, proxy)."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    proxy = TlsProxy(es_settings.url, cert, key)
    yield proxy.url, cert, proxy
    proxy.close()


def test_secrets_never_logged_even_at_debug_level(clean_env, https_es, caplog):
    url, cert, _ = https_es
    clean_env.setenv("HYBRID_ES_USER", USER)
    clean_env.setenv("HYBRID_ES_PASSWORD", PASSWORD)
    clean_env.setenv("HYBRID_ES_CA_CERTS", str(cert))
    with caplog.at_level(logging.DEBUG):
        client = connect(EsSettings.from_env(url))
        client.search(index="*", size=1)
    assert "GET" in caplog.text or "POST" in caplog.text  # the transport did log its requests
    assert PASSWORD not in caplog.text


# ---------------------------------------------------------------- TLS


def test_https_certificates_are_verified_by_default(clean_env, https_es):
    url, cert, proxy = https_es
    unverified = connect(EsSettings(url=url), check=False)
    assert all(node.config.verify_certs for node in unverified.transport.node_pool.all())
    refused_before = proxy.handshakes_failed
    with pytest.raises(HybridError, match=rf"TLS with {url} failed: its certificate could not be verified"):
        connect(EsSettings(url=url), request_timeout=5)
    assert proxy.handshakes_failed > refused_before  # the client hung up on the self-signed certificate

    trusted = connect(EsSettings(url=url, ca_certs=str(cert)))
    assert trusted.info()["version"]["number"] == ES_VERSION


def test_cli_over_https_with_the_ca_from_the_environment(clean_env, https_es, tmp_path):
    url, cert, _ = https_es
    refused = CliRunner().invoke(cli, ["--es-url", url, "es", "status"])
    assert f"--es-url:      {url} does not answer" in refused.output
    clean_env.setenv("HYBRID_ES_CA_CERTS", str(cert))
    answered = CliRunner().invoke(cli, ["--es-url", url, "es", "status"])
    assert f"--es-url:      {url} answers: ES {ES_VERSION}" in answered.output
    clean_env.setenv("HYBRID_ES_CA_CERTS", str(tmp_path / "nowhere.pem"))
    missing = CliRunner().invoke(cli, ["--es-url", url, "search", "x"])
    assert missing.exit_code == 1 and "CA certificate file not found" in missing.output


def test_no_code_path_turns_tls_verification_off():
    source = "\n".join(path.read_text() for path in (REPO / "hybrid_search").rglob("*.py"))
    for pattern in ("verify_certs=False", '"verify_certs": False', "CERT_NONE", "ssl_show_warn", "check_hostname"):
        assert pattern not in source


# ---------------------------------------------------------------- the local node


def test_local_node_listens_on_loopback_only_and_runs_unprivileged(second_node):
    client = second_node.client()
    for kind in ("http", "transport"):
        for node in client.nodes.info(metric=kind)["nodes"].values():
            addresses = [*node[kind]["bound_address"], node[kind]["publish_address"]]
            assert addresses and all(a.startswith(("127.0.0.1:", "[::1]:")) for a in addresses), addresses
    uid = int(Path(f"/proc/{second_node.pid()}/status").read_text().split("Uid:")[1].split()[0])
    expected = pwd.getpwnam(UNPRIVILEGED_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert uid == expected and uid != 0


# ---------------------------------------------------------------- names and destructive commands


def leaf_commands(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command of the CLI tree, as its words after `hybrid`."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [path]
    return [leaf for name, sub in subcommands.items() for leaf in leaf_commands(sub, (*path, name))]


REQUIRED_ARGS = {("search",): ["q"], ("score",): ["p.csv"], ("data", "download"): ["--to", "x"]}


def test_invalid_index_names_are_refused_by_every_command(es_settings):
    commands = leaf_commands(cli)
    assert len(commands) >= 18 and ("tune", "rerank") in commands and ("indices", "prune") in commands
    for words in commands:
        for name in ("*", "csn-*", "Upper", "_all", "a,b", "../x", "name\n"):
            args = ["--es-url", es_settings.url, "--index", name, *words, *REQUIRED_ARGS.get(words, [])]
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 1, (words, name, result.output)
            assert result.output.startswith(f"error: invalid index name {name!r}"), (words, result.output)


def test_prune_deletes_old_versions_only_when_confirmed(es, es_settings, tiny_data, index_name):
    first = build_index(es, tiny_data, index_name, progress=False)
    second = build_index(es, tiny_data, index_name, progress=False, rebuild=True)
    args = ["--es-url", es_settings.url, "--index", index_name, "indices", "prune"]
    declined = CliRunner().invoke(cli, args, input="n\n")
    assert declined.exit_code == 1 and f"delete {first.index}?" in declined.output
    assert indexing.versions(es, index_name) == [first.index, second.index]
    confirmed = CliRunner().invoke(cli, args, input="y\n")
    assert confirmed.exit_code == 0 and f"deleted {first.index}" in confirmed.output
    assert indexing.versions(es, index_name) == [second.index]
    assert indexing.aliased_index(es, index_name) == second.index
    assert "nothing to prune" in CliRunner().invoke(cli, [*args, "--yes"]).output
