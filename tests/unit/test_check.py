"""`flask --app wsgi check` (credsvc.cli.check) and refusing to start: every problem at once,
one line each; the same lines from the app and from gunicorn, never a traceback; the project's
commands without a complete configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from credsvc.cli.check import run
from credsvc.config import Config, ConfigError
from tests.conftest import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = TEST_ENV["RBAC_SYNC_SECRET"]

# Several independent mistakes in one environment.
BROKEN = {
    **TEST_ENV,
    "DIRECTUS_URL": "directus:8055",
    "CREDENTIALS_ENCRYPTION_KEY": "ab" * 16,  # 32 hex characters: half a key
    "DIRECTUS_SECRET": "short",
    "MAX_CONTENT_LENGTH": "lots",
    "DIRECTUS_TIMEOUT_READ": "-1",
    "METRICS_TOKEN": "tiny",
}
BROKEN_VARIABLES = (  # in the order they are reported
    "DIRECTUS_URL",
    "DIRECTUS_SECRET",
    "CREDENTIALS_ENCRYPTION_KEY",
    "MAX_CONTENT_LENGTH",
    "DIRECTUS_TIMEOUT_READ",
    "METRICS_TOKEN",
)


def problems_of(env) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(env)
    return caught.value.problems


# -- the configuration ----------------------------------------------------------------------


def test_every_problem_is_reported_together_one_line_each():
    problems = problems_of(BROKEN)
    assert len(problems) == len(BROKEN_VARIABLES), problems
    for line, name in zip(problems, BROKEN_VARIABLES, strict=True):
        assert line.startswith(name), (name, line)
        assert "\n" not in line
    assert "http(s) URL" in problems[0]
    assert "at least 16 characters" in problems[1] and "at least 16" in problems[5]
    assert "64 hex characters or base64 of 32 bytes" in problems[2]


def test_a_missing_and_an_unknown_setting_are_reported_with_the_rest():
    env = {k: v for k, v in BROKEN.items() if k != "DIRECTUS_TOKEN"}
    env["CREDSVC_MODE"] = "worke"
    problems = problems_of(env)
    assert problems[0] == "CREDSVC_MODE must be one of full, ingest, worker"
    assert "DIRECTUS_TOKEN is required but not set" in problems
    assert len(problems) == len(BROKEN_VARIABLES) + 2


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (
            "CREDENTIALS_KEYS",
            "k1:" + "ab" * 16,
            "CREDENTIALS_KEYS[k1]: 32 hex characters: a 64-character hex key is expected",
        ),
        (
            "CREDENTIALS_KEYS",
            "k1:" + "ab" * 33,
            "CREDENTIALS_KEYS[k1]: 66 hex characters: a 64-character hex key is expected",
        ),
        (
            "CREDENTIALS_KEYS",
            "k1:" + "QUJD" * 6,
            "CREDENTIALS_KEYS[k1]: base64 of 18 bytes: base64 of 32 bytes (44 characters)",
        ),
    ],
)
def test_key_formats_are_spelled_out(name, value, expected):
    [problem] = problems_of({**TEST_ENV, name: value})
    assert problem.startswith(expected), problem
    assert value.partition(":")[2] not in problem


def test_a_passphrase_as_the_encryption_key_is_told_where_it_belongs():
    [problem] = problems_of({**TEST_ENV, "CREDENTIALS_ENCRYPTION_KEY": "node passphrase"})
    assert problem.startswith(
        "CREDENTIALS_ENCRYPTION_KEY must be 64 hex characters or base64 of 32 bytes "
        "(44 characters, padded); this value has 15 characters; if the Node service derived "
        "its key from this string (a passphrase), set it as CREDENTIALS_LEGACY_KEY"
    )
    assert "keys generate" in problem and "node passphrase" not in problem


@pytest.mark.parametrize(
    "own_key",
    [
        "correcthorsebatterystaplecorrecthorsebatt",  # a 43-character passphrase
        "ab" * 21 + "c",  # 43 hex characters: a cut hex key
        "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80",  # unpadded base64 of 32 bytes
        "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8_=",  # the URL-safe alphabet
    ],
    ids=["passphrase-43", "hex-43", "unpadded", "url-safe"],
)
def test_the_own_key_takes_only_canonical_forms(own_key):
    # Node's lenient base64 is for CREDENTIALS_LEGACY_KEY only: as credsvc's own key, a string
    # that merely looks like base64 would pass a passphrase or a cut hex key for a key.
    [problem] = problems_of({**TEST_ENV, "CREDENTIALS_ENCRYPTION_KEY": own_key})
    assert problem.startswith("CREDENTIALS_ENCRYPTION_KEY must be 64 hex characters")
    assert own_key not in problem


@pytest.mark.parametrize("own_key", ["abc", TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"]])
def test_a_derivation_without_the_legacy_key_is_a_problem(own_key):
    # The security review's case (issue 15): the derivation used to turn
    # CREDENTIALS_ENCRYPTION_KEY=abc into k0, the key of every new value.
    env = {
        **TEST_ENV,
        "CREDENTIALS_ENCRYPTION_KEY": own_key,
        "CREDENTIALS_LEGACY_KEY_DERIVATION": "sha256",
    }
    [problem] = problems_of(env)
    assert problem.startswith(
        "CREDENTIALS_LEGACY_KEY_DERIVATION=sha256 is set but CREDENTIALS_LEGACY_KEY is not set"
    )
    assert problem.endswith(
        "CREDENTIALS_ENCRYPTION_KEY to a new random key (flask --app wsgi keys generate)"
    )
    lines: list[str] = []
    assert run(env, directus=False, echo=lines.append) == 1
    assert lines[0] == f"problem: {problem}"
    assert TEST_ENV["CREDENTIALS_ENCRYPTION_KEY"] not in "\n".join(lines)


def test_the_startup_report_counts_and_lists_the_problems():
    report = ConfigError("A is wrong", "B is missing").report()
    assert report == (
        "credsvc cannot start: 2 configuration problems (flask --app wsgi check lists them "
        "too):\n  A is wrong\n  B is missing"
    )


def test_check_without_directus_lists_each_problem_and_fails():
    lines: list[str] = []
    assert run(BROKEN, directus=False, echo=lines.append) == 1
    named = [re.match(r"problem: ([A-Z_]+)", line).group(1) for line in lines[:-1]]
    assert named == list(BROKEN_VARIABLES)
    assert all(line.startswith("problem: ") for line in lines[:-1])
    assert lines[-1] == "6 problems in the environment; Directus not checked"
    assert not any(TEST_ENV["DIRECTUS_TOKEN"] in line or SECRET in line for line in lines)


def test_check_without_directus_passes_a_good_environment():
    lines: list[str] = []
    assert run(dict(TEST_ENV), directus=False, echo=lines.append) == 0
    assert lines == ["ok: environment (CREDSVC_MODE=full)"]


# -- the command line, the app and gunicorn, as an operator runs them -----------------------


def command(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60):
    """Run a project command in a folder without .env, with exactly `env`."""
    base = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "FLASK_SKIP_DOTENV": "1"}
    return subprocess.run(
        args, cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_the_project_commands_without_any_configuration(tmp_path):
    result = command([str(BIN / "flask"), "--app", "wsgi", "--help"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("check", "keys", "api-keys"):
        assert re.search(rf"^  {name}\s", result.stdout, re.MULTILINE), result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_keys_generate_needs_no_configuration(tmp_path):
    result = command([str(BIN / "flask"), "--app", "wsgi", "keys", "generate"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", result.stdout)


def test_a_command_that_needs_the_configuration_names_the_problems(tmp_path):
    result = command([str(BIN / "flask"), "--app", "wsgi", "keys", "status"], BROKEN, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for name in BROKEN_VARIABLES:
        assert name in result.stderr


def test_the_check_command_exits_non_zero_with_every_problem(tmp_path):
    args = [str(BIN / "flask"), "--app", "wsgi", "check", "--no-directus"]
    result = command(args, BROKEN, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == len(BROKEN_VARIABLES)
    good = command(args, dict(TEST_ENV), tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout == "ok: environment (CREDSVC_MODE=full)\n"


def expected_report() -> str:
    with pytest.raises(ConfigError) as caught:
        Config.from_env(BROKEN)
    return caught.value.report()


def test_the_app_refuses_to_start_with_the_report_and_no_traceback(tmp_path):
    result = command([sys.executable, "-c", "import wsgi"], BROKEN, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == expected_report()
    assert "Traceback" not in result.stderr


def test_gunicorn_refuses_to_start_with_the_same_report(tmp_path):
    args = [
        str(BIN / "gunicorn"),
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        "127.0.0.1:0",
        "wsgi:app",
    ]
    result = command(args, BROKEN, tmp_path)
    assert result.returncode == 1, result.stderr
    assert expected_report() in result.stderr
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stderr


def test_gunicorn_starts_with_a_good_configuration_and_sums_its_workers_metrics(tmp_path):
    """The check in on_starting lets a good configuration through and prepares
    PROMETHEUS_MULTIPROC_DIR (an earlier run's file is removed); with two workers, /metrics
    counts every request whichever worker served it."""
    import requests

    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999.db").write_bytes(b"stale")
    args = [
        str(BIN / "gunicorn"),
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--threads",
        "1",
        "wsgi:app",
    ]
    token = "metrics-token-for-gunicorn-0123456789"
    base = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    env = {**base, **TEST_ENV, "PROMETHEUS_MULTIPROC_DIR": str(folder), "METRICS_TOKEN": token}
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url, booted, lines = None, 0, []
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else url
            booted += "Booting worker" in line
            if booted == 2:
                break
        assert url and booted == 2, "".join(lines)
        assert not (folder / "counter_999.db").exists()
        served = 0
        # A new connection each time, until both workers have answered some (each keeps its
        # values in its own counter_<pid>.db): only a sum over both gives `served` below.
        while served < 20 or len(list(folder.glob("counter_*.db"))) < 2:
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
            served += 1
            assert served < 500, "one worker answered every request"
        scrape = requests.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert scrape.status_code == 200
        counted = re.search(
            r'credsvc_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)',
            scrape.text,
        )
        assert counted and float(counted.group(1)) == served, scrape.text[:2000]
    finally:
        proc.terminate()
        proc.wait(30)


# -- the Directus side at the wire (the real one: tests/integration/test_check.py) ----------


def test_a_column_directus_refuses_is_named_alone(directus_wire):
    """Directus's 403 names one column per answer: each is then asked alone."""
    from responses import matchers

    from credsvc.directus import DirectusClient
    from credsvc.services.directus_check import _missing_fields
    from tests.conftest import DIRECTUS

    url = f"{DIRECTUS}/items/platform_sessions"
    for fields, status in (("id,user_id,rewrap_guard", 403), ("id", 200), ("user_id", 200)):
        directus_wire.get(
            url,
            status=status,
            json={"data": []} if status == 200 else {"errors": []},
            match=[matchers.query_param_matcher({"limit": "0", "fields": fields})],
        )
    directus_wire.get(
        url,
        status=403,
        json={"errors": []},
        match=[matchers.query_param_matcher({"limit": "0", "fields": "rewrap_guard"})],
    )
    client = DirectusClient(DIRECTUS, "token", get_retries=0)
    fields = ("id", "user_id", "rewrap_guard")
    assert _missing_fields(client, "platform_sessions", fields) == ["rewrap_guard"]
