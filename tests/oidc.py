"""OpenID providers for the single sign-on tests, both on 127.0.0.1.

``NodeIdp`` is the real thing: node-oidc-provider (tests/idp/provider.mjs) run with the machine's
Node.js, used by the browser tests. ``ScriptedOp`` serves the same documents (discovery, JWKS, token,
UserInfo, end_session) from this process with keys the test holds, so a test can hand Clearance's
verification path an ID token with exactly one thing wrong, which a correct provider never issues.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.servers import free_port, wait_for_port

BASE_DIR = Path(__file__).resolve().parents[1]
IDP_DIR = BASE_DIR / "tests" / "idp"
NODE = shutil.which("node")
IDP_INSTALLED = (IDP_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
_MISSING = ("Node.js is not installed" if NODE is None else
            "the test IdP's packages are not installed (npm ci --prefix tests/idp)" if not IDP_INSTALLED else "")
# CI installs both (.ci/run); there a missing one is a failure, never a skip.
IDP_MARKS = [pytest.mark.skipif(bool(_MISSING) and not os.environ.get("CI"),
                                reason=f"{_MISSING}; the real OpenID provider runs on it (.ci/run installs it)")]


class NodeIdp:
    """node-oidc-provider on a free port, with one confidential client and users read from a file the
    test may rewrite between sign-ins."""

    def __init__(self, workdir: Path, *, client_id: str, client_secret: str, redirect_uri: str,
                 post_logout_redirect_uri: str, users: dict[str, Any], alg: str = "RS256") -> None:
        assert not _MISSING, _MISSING
        self.port = free_port()
        self.alg = alg
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.users_file = workdir / "idp-users.json"
        self.set_users(users)
        self.log_path = workdir / "idp.log"
        self.log = self.log_path.open("wb")
        env = {**os.environ, "IDP_PORT": str(self.port), "IDP_USERS_FILE": str(self.users_file),
               "IDP_CLIENT": json.dumps({"client_id": client_id, "client_secret": client_secret, "alg": alg,
                                         "redirect_uris": [redirect_uri],
                                         "post_logout_redirect_uris": [post_logout_redirect_uri]})}
        self.proc = subprocess.Popen([str(NODE), "provider.mjs"], cwd=IDP_DIR, env=env,  # noqa: S603 - fixed argv
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, 30, self.proc)
        except AssertionError:
            self.stop()
            raise AssertionError(self.output()) from None

    def set_users(self, users: dict[str, Any]) -> None:
        self.users_file.write_text(json.dumps(users))

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class ScriptedOp:
    """A provider whose token endpoint answers with the ID token the test built for this sign-in."""

    def __init__(self, *, client_id: str, end_session: bool = True) -> None:
        self.client_id = client_id
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.token_for: Any = None  # called with the token request's form fields, returns the ID token
        self.token_requests: list[dict[str, str]] = []
        self.userinfo: dict[str, Any] | None = None
        self.last_subject: str | None = None
        self.end_session = end_session
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _json(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802
                path = urllib.parse.urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    self._json(200, outer.discovery())
                elif path == "/jwks":
                    self._json(200, outer.jwks())
                elif path == "/userinfo":
                    # About the subject of the last ID token issued, as a provider's would be.
                    self._json(200, outer.userinfo if outer.userinfo is not None else {"sub": outer.last_subject})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                outer.token_requests.append(form)
                token = outer.token_for(form)
                outer.last_subject = jwt.decode(token, options={"verify_signature": False}).get("sub")
                self._json(200, {"access_token": "at-" + form.get("code", ""), "token_type": "Bearer",
                                 "expires_in": 300, "id_token": token})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict[str, Any]:
        doc = {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
               "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
               "userinfo_endpoint": f"{self.issuer}/userinfo",
               "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        if self.end_session:
            doc["end_session_endpoint"] = f"{self.issuer}/session/end"
        return doc

    def jwks(self) -> dict[str, Any]:
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        return {"keys": [{**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
                         {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"}]}

    def claims(self, nonce: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {"iss": self.issuer, "aud": self.client_id, "sub": "sub-dana", "nonce": nonce, "iat": now,
                "exp": now + 300, "preferred_username": "dana", "email": "dana@example.com",
                "given_name": "Dana", "family_name": "Okafor", "groups": ["ai-governance"]}
        base.update(overrides)
        return {key: value for key, value in base.items() if value is not None}

    def sign(self, claims: dict[str, Any], *, alg: str = "ES256", key: Any = None, kid: str | None = None) -> str:
        if key is None:
            key = self.ec_key if alg.startswith("ES") else self.rsa_key
        kid = kid or ("ec-1" if alg.startswith("ES") else "rsa-1")
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    @staticmethod
    def pkce_matches(verifier: str, challenge: str) -> bool:
        return _b64(hashlib.sha256(verifier.encode()).digest()) == challenge

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
