"""`make mutants`: deliberate breaks of the security-relevant code, each of which must make at
least one unit test fail.

Every mutant names a file, an exact snippet of it (which must occur exactly once, so the list
cannot rot silently when the code changes), its replacement, and the unit test files that
guard it. The run copies the repository (tracked and untracked, not ignored, files) into a
temporary directory once, checks that the listed test files pass there unmutated, then for each
mutant writes the mutated file into the copy, runs the listed files with `pytest -x`, and puts
the original back. The working tree is never written to; the run checks at the end that the
mutated files in it are unchanged.

    .venv/bin/python tests/mutants.py              every mutant
    .venv/bin/python tests/mutants.py keyring v7   mutants whose name contains "keyring" or "v7"
    .venv/bin/python tests/mutants.py --list       the list, without running anything

Exit status 0 only when every mutant is killed; 1 when one survives, a snippet is missing or
ambiguous, the unmutated tests fail, or a mutant breaks the test run itself (pytest exit 2+).

Left out, because only an integration test against a real Directus can kill them: the Directus
permissions of the service and operator roles (deploy/directus, tests/integration/
test_directus_roles.py), the rewrap guard's database triggers (tests/integration/
test_rewrap_guard.py) and what Directus itself does with a logged-out session
(tests/integration/test_session_tokens.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds per mutant; a mutant that hangs the tests counts as killed


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]


U = "tests/unit/"
AUTH_TESTS = (U + "test_auth.py", U + "test_sessions.py")
CALLER_TESTS = (U + "test_auth.py", U + "test_callers.py")
KEY_TESTS = (U + "test_api_keys.py", U + "end_user_api")
KEYRING_TESTS = (U + "test_keyring_formats.py", U + "test_crypto.py", U + "test_owner_binding.py")
LOG_TESTS = (U + "test_logs.py",)
COOKIE_TESTS = (U + "test_cookies_netscape.py", U + "test_cookies.py")
LEGACY_TESTS = (U + "test_legacy_compat.py",)
STORED_COOKIE_TESTS = (U + "test_stored_cookies.py",)

MUTANTS: tuple[Mutant, ...] = (
    # -- auth: Directus user tokens ----------------------------------------------------------
    Mutant(
        "jwt-key-headers-allowed",
        "credsvc/auth.py",
        'if header.get("alg") != "HS256" or any(name in header for name in KEY_HEADERS):',
        'if header.get("alg") != "HS256":',
        AUTH_TESTS,
    ),
    Mutant(
        "jwt-signature-unchecked",
        "credsvc/auth.py",
        '"verify_signature": secret is not None,',
        '"verify_signature": False,',
        AUTH_TESTS,
    ),
    Mutant(
        "jwt-issuer-unchecked",
        "credsvc/auth.py",
        'issuer="directus",',
        "issuer=None,",
        AUTH_TESTS,
    ),
    Mutant(
        "jwt-expiry-unchecked",
        "credsvc/auth.py",
        "leeway=leeway,",
        "leeway=10**9,",
        AUTH_TESTS,
    ),
    Mutant(
        "jwt-access-claims-optional",
        "credsvc/auth.py",
        "if any(name not in claims for name in ACCESS_TOKEN_CLAIMS):",
        "if False:",
        AUTH_TESTS,
    ),
    Mutant(
        "jwt-share-and-scope-claims-accepted",
        "credsvc/auth.py",
        "if any(name in claims for name in NON_ACCESS_CLAIMS):",
        "if False:",
        AUTH_TESTS,
    ),
    Mutant(
        "session-token-not-shown-to-directus",
        "credsvc/services/sessions.py",
        'return "session" in claims',
        "return False",
        AUTH_TESTS,
    ),
    Mutant(
        "session-confirmed-for-another-user",
        "credsvc/services/sessions.py",
        'if directus.user_id_for_token(token) != claims["id"]:',
        "if directus.user_id_for_token(token) is None:",
        AUTH_TESTS,
    ),
    Mutant(
        "session-remembered-past-token-expiry",
        "credsvc/services/sessions.py",
        "lifetime = min(self.ttl, exp - self.wall_clock())",
        "lifetime = self.ttl",
        (U + "test_sessions.py",),
    ),
    # -- auth: internal callers --------------------------------------------------------------
    Mutant(
        "caller-secret-prefix-match",
        "credsvc/auth.py",
        "if hmac.compare_digest(presented, secret):",
        "if secret.startswith(presented[:16]):",
        CALLER_TESTS,
    ),
    Mutant(
        "caller-scope-unchecked",
        "credsvc/auth.py",
        "    if not caller.allows(g.scope):\n        deny()",
        "    pass",
        CALLER_TESTS,
    ),
    Mutant(
        "business-authorization-ignores-business",
        "credsvc/auth.py",
        "if not g.caller.allows(g.scope, business_id):",
        "if not g.caller.allows(g.scope):",
        CALLER_TESTS,
    ),
    Mutant(
        "caller-grant-any-business",
        "credsvc/callers.py",
        "return ALL_BUSINESSES in covered or business_id in covered",
        "return bool(covered)",
        CALLER_TESTS,
    ),
    # -- business API keys -------------------------------------------------------------------
    Mutant(
        "api-key-revocation-ignored",
        "credsvc/auth.py",
        "if api_keys.is_revoked(key):",
        "if False:",
        KEY_TESTS,
    ),
    Mutant(
        "api-key-hash-not-compared",
        "credsvc/services/api_keys.py",
        'if key is None or not hmac.compare_digest(str(key.get("key_hash", "")), digest):',
        "if key is None:",
        KEY_TESTS,
    ),
    # -- keyring -----------------------------------------------------------------------------
    Mutant(
        "keyring-retired-key-decrypts",
        "credsvc/crypto/keyring.py",
        "if key_id not in self._usable:",
        "if key_id not in self._keys:",
        KEYRING_TESTS,
    ),
    Mutant(
        "keyring-min-decrypt-ignored",
        "credsvc/crypto/keyring.py",
        "first = self._order.index(min_decrypt) if min_decrypt else 0",
        "first = 0",
        KEYRING_TESTS,
    ),
    Mutant(
        "keyring-legacy-tries-retired-keys",
        "credsvc/crypto/keyring.py",
        "local = [self._keys[key_id] for key_id in reversed(self._usable)]",
        "local = [self._keys[key_id] for key_id in reversed(self._order)]",
        KEYRING_TESTS,
    ),
    Mutant(
        "owner-binding-left-out-of-context",
        "credsvc/crypto/keyring.py",
        'owner = json.dumps([[c, v] for c, v in self.owner], separators=(",", ":"))',
        'owner = "[]"',
        KEYRING_TESTS,
    ),
    Mutant(
        "owner-columns-left-out-of-rows",
        "credsvc/model.py",
        "owner = tuple((name, row[name]) for name in self.owner_columns)",
        "owner = ()",
        KEYRING_TESTS,
    ),
    Mutant(
        "v7-signature-unverified",
        "credsvc/crypto/sealed.py",
        "        verify_key.verify(signature, _signed_message(info, enc, sealed))\n",
        "        pass\n",
        KEYRING_TESTS,
    ),
    Mutant(
        "v3-unsigned-ingest-accepted",
        "credsvc/crypto/keyring.py",
        "if not self.accept_unsigned_ingest:",
        "if False:",
        KEYRING_TESTS,
    ),
    Mutant(
        "require-owner-binding-ignored",
        "credsvc/crypto/keyring.py",
        "if fmt in UNBOUND_FORMATS and self.require_owner_binding:",
        "if False:",
        KEYRING_TESTS,
    ),
    # -- log redaction -----------------------------------------------------------------------
    Mutant(
        "redaction-filter-no-op",
        "credsvc/logs.py",
        "    def filter(self, record: logging.LogRecord) -> bool:\n",
        "    def filter(self, record: logging.LogRecord) -> bool:\n        return True\n",
        LOG_TESTS,
    ),
    Mutant(
        "redaction-skips-extra-fields",
        "credsvc/logs.py",
        "setattr(record, name, self.redact(value))",
        "pass",
        LOG_TESTS,
    ),
    Mutant(
        "redaction-misses-previous-caller-secrets",
        "credsvc/logs.py",
        'secrets += [s.decode("utf-8", "replace") for c in config.callers for s in c.secrets]',
        'secrets += [c.secrets[0].decode("utf-8", "replace") for c in config.callers]',
        LOG_TESTS,
    ),
    Mutant(
        "logs-keep-tracebacks",
        "credsvc/logs.py",
        "        record.exc_info = None\n",
        "",
        LOG_TESTS,
    ),
    Mutant(
        "logs-carry-exception-messages",
        "credsvc/errors.py",
        '        log.error("request failed", extra=',
        '        log.error(f"request failed: {exc}", extra=',
        LOG_TESTS,
    ),
    Mutant(
        "request-id-any-accepted",
        "credsvc/logs.py",
        "g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex",
        "g.request_id = incoming or uuid.uuid4().hex",
        LOG_TESTS,
    ),
    # -- cookie parser -----------------------------------------------------------------------
    Mutant(
        "netscape-secure-inverted",
        "credsvc/cookies/_netscape.py",
        'is_secure = _bool_field("secure", secure)',
        'is_secure = not _bool_field("secure", secure)',
        COOKIE_TESTS,
    ),
    Mutant(
        "netscape-httponly-dropped",
        "credsvc/cookies/_netscape.py",
        "line, http_only = line[len(HTTPONLY_PREFIX) :], True",
        "line, http_only = line[len(HTTPONLY_PREFIX) :], False",
        COOKIE_TESTS,
    ),
    Mutant(
        "netscape-subdomain-flag-unchecked",
        "credsvc/cookies/_netscape.py",
        'if include_subdomains != domain.startswith("."):',
        "if False:",
        COOKIE_TESTS,
    ),
    Mutant(
        "cookie-domain-prefix-match",
        "credsvc/cookies/_model.py",
        "if not _HOST.fullmatch(host.lower()):",
        "if not _HOST.match(host.lower()):",
        COOKIE_TESTS,
    ),
    # -- ownership ---------------------------------------------------------------------------
    Mutant(
        "profile-owner-unchecked",
        "credsvc/services/profiles.py",
        '    if profile["user_id"] != user_id:\n        raise Forbidden()',
        "    pass",
        (U + "credentials_api",),
    ),
    Mutant(
        "relabelled-profile-updated",
        "credsvc/services/profiles.py",
        'if existing["user_id"] != user_id or existing["platform"] != platform:',
        "if False:",
        (U + "credentials_api", U + "test_owner_binding.py"),
    ),
    Mutant(
        "session-revoke-by-capturing-user",
        "credsvc/services/platform_sessions.py",
        'if (profile or session)["user_id"] != user_id:',
        'if session["user_id"] != user_id:',
        (U + "credentials_api",),
    ),
    Mutant(
        "revoked-session-marker-ignored",
        "credsvc/services/platform_sessions.py",
        "    if stored == REVOKED:",
        "    if False:",
        (U + "credentials_api",),
    ),
    Mutant(
        "revoke-keeps-the-cookies",
        "credsvc/services/platform_sessions.py",
        '{"revoked_at": utc_now(), FIELD: tombstone}',
        '{"revoked_at": utc_now()}',
        (U + "credentials_api",),
    ),
    Mutant(
        "session-of-another-user-served",
        "credsvc/services/platform_sessions.py",
        'if record is None or record.get("user_id") != owner:',
        "if record is None:",
        (U + "credentials_api",),
    ),
    Mutant(
        "download-credential-of-another-user-served",
        "credsvc/services/download_credentials.py",
        'if profile is None or profile.get("user_id") != record["user_id"]:',
        "if False:",
        (U + "credentials_api",),
    ),
    Mutant(
        "rewrap-launders-relabelled-rows",
        "credsvc/services/keys.py",
        "if not column.restates_owner(row):",
        "if False:",
        (U + "test_keys_cli.py",),
    ),
    Mutant(
        "make-run-hands-over-the-directus-admin",
        "deploy/run.py",
        "        if name.startswith(DIRECTUS_ONLY_PREFIXES):",
        "        if False:",
        (U + "test_run.py",),
    ),
    Mutant(
        "ingest-may-hold-the-directus-secret",
        "credsvc/config.py",
        '    if mode in ("worker", "ingest"):\n        raise ConfigError(',
        '    if mode in ("worker",):\n        raise ConfigError(',
        (U + "test_config.py",),
    ),
    Mutant(
        "session-revoke-owner-unchecked",
        "credsvc/services/platform_sessions.py",
        '    if (profile or session)["user_id"] != user_id:\n        raise Forbidden()',
        "    pass",
        (U + "credentials_api",),
    ),
    Mutant(
        "end-user-rows-of-other-businesses-kept",
        "credsvc/services/end_users.py",
        'if row.get("business_id") == business_id and row.get("end_user_hash") == hashed',
        "if True",
        (U + "end_user_api",),
    ),
    Mutant(
        "end-user-write-plan-foreign-rows",
        "credsvc/services/end_users.py",
        'existing = {row["slot"]: row for row in rows if row.get("business_id") == business_id}',
        'existing = {row["slot"]: row for row in rows}',
        (U + "end_user_api",),
    ),
    # -- Directus filters and retries --------------------------------------------------------
    Mutant(
        "filter-keywords-sent",
        "credsvc/directus.py",
        'FILTER_KEYWORDS = frozenset({"true", "false", "null"})',
        "FILTER_KEYWORDS = frozenset()",
        (U + "test_directus.py", U + "test_schemas.py"),
    ),
    Mutant(
        "filter-dollar-variables-sent",
        "credsvc/directus.py",
        '(value.lower() in FILTER_KEYWORDS or value.startswith("$"))',
        "(value.lower() in FILTER_KEYWORDS)",
        (U + "test_directus.py", U + "test_schemas.py"),
    ),
    Mutant(
        "filter-literals-sent-in-search",
        "credsvc/directus.py",
        '                _check_filter(query["filter"])\n',
        "                pass\n",
        (U + "test_directus.py",),
    ),
    Mutant(
        "get-retries-raised",
        "credsvc/directus.py",
        "GET_RETRIES = 2\n",
        "GET_RETRIES = 3\n",
        (U + "test_directus.py",),
    ),
    Mutant(
        "writes-retried-after-refused-connection",
        "credsvc/directus.py",
        "            return Retry.increment(self.new(total=0), method, *args, **kwargs)\n",
        "            return super().increment(method, *args, **kwargs)\n",
        (U + "test_directus.py",),
    ),
    Mutant(
        "get-retried-on-500",
        "credsvc/directus.py",
        "status_forcelist=(502, 503),",
        "status_forcelist=(500, 502, 503),",
        (U + "test_directus.py",),
    ),
    Mutant(
        "upstream-code-read-from-the-cut-body",
        "credsvc/directus.py",
        "        self.errors = _error_objects(body)\n",
        "        self.errors = _error_objects(body[:MAX_BODY_IN_MESSAGE])\n",
        (U + "test_directus.py",),
    ),
    Mutant(
        "end-user-envelope-widened",
        "credsvc/errors.py",
        'return "ok" if path.startswith("/v1/") else "success"',
        'return "ok" if path.startswith("/v1") else "success"',
        (U + "test_errors.py",),
    ),
    # -- routing -----------------------------------------------------------------------------
    Mutant(
        "router-redirects-answered",
        "credsvc/api/__init__.py",
        "if isinstance(request.routing_exception, RequestRedirect):",
        "if False:",
        (U + "test_api.py",),
    ),
    # Issue 15: the Node service's legacy values, keys and stored cookies.
    Mutant(
        "legacy-hex-values-unread",
        "credsvc/crypto/aesgcm.py",
        '_TAG_TEXT_LENGTH = {24: "base64", 22: "base64url", 32: "hex"}',
        '_TAG_TEXT_LENGTH = {24: "base64", 22: "base64url"}',
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-short-ivs-accepted",
        "credsvc/crypto/aesgcm.py",
        "LEGACY_IV_MIN, LEGACY_IV_MAX = 12, 128",
        "LEGACY_IV_MIN, LEGACY_IV_MAX = 8, 128",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-non-canonical-accepted",
        "credsvc/crypto/aesgcm.py",
        "    if encode_part(data, encoding) != part:",
        "    if False:",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-write-ignores-encoding",
        "credsvc/crypto/keyring.py",
        "return aesgcm.encrypt_json(value, self._legacy_write_key, self.legacy_encoding)",
        "return aesgcm.encrypt_json(value, self._legacy_write_key)",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-write-with-owner-binding",
        "credsvc/crypto/keyring.py",
        "        if self.require_owner_binding:\n",
        "        if False:\n",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-sha256-base64-prefix-wrong",
        "credsvc/crypto/legacy_keys.py",
        "return base64.b64encode(hashlib.sha256(data).digest())[:KEY_BYTES]",
        "return hashlib.sha256(data).digest()",
        LEGACY_TESTS,
    ),
    # Security review of issue 15: a derivation never turns CREDENTIALS_ENCRYPTION_KEY into k0.
    Mutant(
        "legacy-derivation-without-legacy-key-accepted",
        "credsvc/crypto/keyring.py",
        "        legacy_keys.require_legacy_key(derivation, legacy_key)\n",
        "",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-derivation-applied-to-k0",
        "credsvc/crypto/keyring.py",
        'own = legacy_keys.own_key(single_key, "`single_key`")',
        'own = _derive(derivation, single_key, "`single_key`")',
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-probe-advises-deriving-k0",
        "credsvc/services/legacy_probe.py",
        '    if source == "CREDENTIALS_LEGACY_KEY":\n        return setting',
        "    if True:\n        return setting",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-rewrap-in-legacy-write-mode",
        "credsvc/cli/keys.py",
        '    if keyring.write_format == "legacy":',
        "    if False:",
        LEGACY_TESTS,
    ),
    Mutant(
        "chrome-keys-drop-expires",
        "credsvc/cookies/_json.py",
        "return dated if dated is not None else plain",
        "return dated",
        STORED_COOKIE_TESTS,
    ),
    Mutant(
        "stored-cookie-name-always-shown",
        "credsvc/cookies/_stored.py",
        'return text if _SHOWABLE_NAME.fullmatch(text) else ""',
        "return text",
        STORED_COOKIE_TESTS,
    ),
    Mutant(
        "stored-cookie-problems-keep-served-index",
        "credsvc/cookies/_stored.py",
        "Problem(stored.positions[p.index], p.name",
        "Problem(p.index, p.name",
        STORED_COOKIE_TESTS,
    ),
    Mutant(
        "stored-cookies-all-or-nothing",
        "credsvc/services/platform_sessions.py",
        "session_cookies = cookies.read_stored(stored)",
        "session_cookies = cookies.read_stored("
        "cookies.to_extension(cookies.from_extension(stored)))",
        STORED_COOKIE_TESTS,
    ),
    # Review of issue 15: Node-era download cookie files, legacy writes only where Node reads,
    # Node's lenient base64 keys, timestamps without a zone.
    Mutant(
        "stored-netscape-all-or-nothing",
        "credsvc/services/download_credentials.py",
        "stored = cookies.read_stored_netscape(text)",
        "stored = cookies.read_stored_netscape(cookies.to_netscape(cookies.parse_netscape(text)))",
        STORED_COOKIE_TESTS,
    ),
    Mutant(
        "stored-netscape-no-usable-cookie-served",
        "credsvc/services/download_credentials.py",
        "        if not stored.usable:\n",
        "        if False:\n",
        STORED_COOKIE_TESTS,
    ),
    Mutant(
        "legacy-write-for-every-column",
        "credsvc/crypto/keyring.py",
        "if self._legacy_write_key is not None and context.node_readable:",
        "if self._legacy_write_key is not None:",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-write-for-revocation-markers",
        "credsvc/services/platform_sessions.py",
        "PLATFORM_SESSIONS.context(session, node_readable=False)",
        "PLATFORM_SESSIONS.context(session)",
        LEGACY_TESTS,
    ),
    Mutant(
        "legacy-auto-takes-mixed-base64",
        "credsvc/crypto/legacy_keys.py",
        "if not any(pattern.fullmatch(text) for pattern in _NODE_BASE64):",
        'if not re.fullmatch(r"[A-Za-z0-9+/_ .-]{43,44}=?", text):',
        LEGACY_TESTS,
    ),
    Mutant(
        "timestamp-naive-left-naive",
        "credsvc/services/__init__.py",
        "else moment.replace(tzinfo=UTC)",
        "else moment",
        (U + "test_timestamps.py",),
    ),
    Mutant(
        "report-audits-no-reason",
        "credsvc/api/internal_credentials.py",
        'detail=body["reason"],',
        "",
        (U + "test_session_health.py",),
    ),
    # Defence in depth behind refuse_redirects (a merged "//" is a redirect, refused as 404):
    # only test_url_map_merges_no_slashes sees this one.
    Mutant(
        "router-merges-slashes",
        "credsvc/api/__init__.py",
        "app.url_map.merge_slashes = False",
        "app.url_map.merge_slashes = True",
        (U + "test_api.py",),
    ),
    # -- CORS: configured origins only, the user routes only --------------------------------
    Mutant(
        "cors-any-origin-echoed",
        "credsvc/cors.py",
        "    if origin in allowed:\n",
        "    if origin:\n",
        (U + "test_cors.py",),
    ),
    Mutant(
        "cors-wildcard-accepted",
        "credsvc/origins.py",
        'if "*" in origin:',
        "if False:",
        (U + "test_cors.py",),
    ),
    # -- audit: group commit -------------------------------------------------------------------
    Mutant(
        "audit-follower-acknowledged-before-commit",
        "credsvc/services/audit.py",
        """        if not leads:
            ticket.ready.wait()
            leads = ticket.leads""",
        """        if not leads:
            return""",
        (U + "test_audit.py",),
    ),
    Mutant(
        "audit-batch-error-swallowed",
        "credsvc/services/audit.py",
        "            ticket.error = error\n",
        "            ticket.error = None\n",
        (U + "test_audit.py",),
    ),
)


# -- running ------------------------------------------------------------------------------------


def repository_files() -> list[str]:
    """Tracked files and untracked ones git does not ignore (new tests not yet committed)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def copy_tree(target: Path) -> None:
    for name in repository_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def check_snippets(mutants: tuple[Mutant, ...]) -> list[str]:
    problems = []
    for mutant in mutants:
        path = ROOT / mutant.file
        if not path.is_file():
            problems.append(f"{mutant.name}: {mutant.file} does not exist")
            continue
        count = path.read_text(encoding="utf-8").count(mutant.original)
        if count != 1:
            problems.append(
                f"{mutant.name}: the original snippet occurs {count} times in {mutant.file}"
                " (it must occur exactly once)"
            )
        missing = [test for test in mutant.tests if not (ROOT / test).exists()]
        if missing:
            problems.append(f"{mutant.name}: no such test file or folder {', '.join(missing)}")
    return problems


# In pytest's "short test summary info" (-rfE): "FAILED <node id> - <message>".
SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)


def first_failure(output: str) -> str:
    _, marker, summary = output.partition("short test summary info")
    found = SUMMARY_LINE.search(summary) if marker else None
    return found.group(1) if found else ""


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int | None, str, str]:
    """(pytest exit status or None on timeout, first failing test id, output)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "PYTHONDONTWRITEBYTECODE": "1",  # a restored file must never meet a mutant's .pyc
        "PYTHONHASHSEED": "0",
    }
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(
            [*command, *tests],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return None, f"(timeout after {TIMEOUT} s)", ""
    output = done.stdout + done.stderr
    return done.returncode, first_failure(output), output


def fingerprint(files: set[str]) -> dict[str, str]:
    return {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest() for name in files}


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for mutant in MUTANTS:
            print(f"{mutant.name:45} {mutant.file}")
        print(f"mutants={len(MUTANTS)}")
        return 0
    wanted = [arg for arg in argv if not arg.startswith("-")]
    mutants = tuple(m for m in MUTANTS if not wanted or any(w in m.name for w in wanted))
    if not mutants:
        print(f"no mutant matches {wanted}")
        return 1
    problems = check_snippets(mutants)
    if problems:
        print("The mutant list no longer matches the code:\n  " + "\n  ".join(problems))
        return 1
    mutated_files = {m.file for m in mutants}
    before = fingerprint(mutated_files)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="credsvc-mutants-") as temporary:
        tree = Path(temporary)
        copy_tree(tree)
        probe = subprocess.run(
            [sys.executable, "-c", "import credsvc; print(credsvc.__file__)"],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
        )
        if not probe.stdout.strip().startswith(str(tree)):
            print(f"the copy does not import its own credsvc: {probe.stdout}{probe.stderr}")
            return 1
        all_tests = tuple(sorted({test for m in mutants for test in m.tests}))
        status, failing, output = run_tests(tree, all_tests)
        if status != 0:
            print(f"The unmutated tests do not pass ({failing}); fix them first:\n{output}")
            return 1
        print(f"baseline: {len(all_tests)} test files pass unmutated\n")
        rows = []
        for mutant in mutants:
            path = tree / mutant.file
            original = path.read_text(encoding="utf-8")
            try:
                path.write_text(
                    original.replace(mutant.original, mutant.replacement, 1), encoding="utf-8"
                )
                status, failing, output = run_tests(tree, mutant.tests)
            finally:
                path.write_text(original, encoding="utf-8")
            if status == 0:
                verdict = "SURVIVED"
            elif status is None or status == 1:
                verdict = "killed"
            else:
                verdict = f"BROKEN (pytest exit {status})"
                failing = output.strip().splitlines()[-1] if output.strip() else ""
            rows.append((mutant, verdict, failing))
            print(f"  {verdict:8} {mutant.name}", flush=True)
    if fingerprint(mutated_files) != before:
        print("\nWARNING: a mutated file changed in the working tree during the run (someone else")
        print("edited it; this script writes only to its temporary copy).")
    width = max(len(m.name) for m, _, _ in rows)
    file_width = max(len(m.file) for m, _, _ in rows)
    print(f"\n{'mutant':{width}}  {'file':{file_width}}  {'verdict':8}  killing test")
    for mutant, verdict, failing in rows:
        print(f"{mutant.name:{width}}  {mutant.file:{file_width}}  {verdict:8}  {failing}")
    killed = sum(verdict == "killed" for _, verdict, _ in rows)
    survived = sum(verdict == "SURVIVED" for _, verdict, _ in rows)
    broken = len(rows) - killed - survived
    elapsed = time.monotonic() - started
    print(
        f"\nmutants={len(rows)} killed={killed} survived={survived}"
        + (f" broken={broken}" if broken else "")
        + f" ({elapsed:.0f} s)"
    )
    return 0 if killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
