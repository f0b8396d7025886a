#!/usr/bin/env python3
"""Get a WeChat credential from wxcentral's token endpoint, and report a
rejected one, with SigV4-signed HTTP calls (botocore only, no other package).

Configuration (environment):
  WXCENTRAL_TOKEN_URL        the stack's TokenUrl output, e.g.
                             https://abc.lambda-url.ap-east-1.on.aws/token
                             (the local stack: http://127.0.0.1:8080/token)
  WXCENTRAL_SIGNING_SERVICE  "lambda" for a Function URL (the default),
                             "execute-api" for an HTTP API endpoint (the
                             default when the host is *.execute-api.*)
  AWS_REGION                 signing region when the host does not name one
  plus botocore's usual credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, an
  instance or task role, ...).

Command line (prints the JSON answer; exit 0 on 200, 1 on an error answer):
  wxcentral_token.py get APPID [KIND]
  wxcentral_token.py invalidate APPID [KIND] < rejected-token
The rejected token is read from standard input so it never shows up in a
process list or a shell history.

As a library:
  client = TokenClient.from_env()
  token = client.get("wx0123456789abcdef")["token"]
  ... WeChat answers errcode 40001/40014/42001 ...
  token = client.invalidate("wx0123456789abcdef", "access_token", token)["token"]
"""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

# Regions are in the host names AWS gives both endpoint kinds.
_FUNCTION_URL_HOST = re.compile(r"\.lambda-url\.([a-z0-9-]+)\.on\.aws$")
_HTTP_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class WxcentralError(Exception):
    """An error answer: {"error","message"} with its HTTP status."""

    def __init__(self, status, code, message):
        super().__init__(f"{code} (HTTP {status}): {message}")
        self.status = status
        self.code = code  # unknown_app, token_unavailable, bad_request, force_*
        self.message = message
        self.answer = {"error": code, "message": message}


class TokenClient:
    """Signs each request with SigV4 and returns the decoded JSON answer."""

    def __init__(self, token_url, service=None, region=None, credentials=None, timeout=10):
        url = token_url.rstrip("/")
        if not url.endswith("/token"):
            url += "/token"
        self.token_url = url
        host = urllib.parse.urlsplit(url).hostname or ""
        fn_url, http_api = _FUNCTION_URL_HOST.search(host), _HTTP_API_HOST.search(host)
        if service is None:
            service = "execute-api" if http_api else "lambda"
        # The endpoint's own region signs; region is for hosts that name none
        # (a custom domain, the local stack).
        match = fn_url or http_api
        if match:
            region = match.group(1)
        if not region:
            raise ValueError("AWS_REGION: required when the token URL's host does not name a region")
        if credentials is None:
            raise ValueError("AWS credentials: none found (set AWS_PROFILE, AWS_ACCESS_KEY_ID or use a role)")
        self.service, self.region = service, region
        self.credentials = credentials
        self.timeout = timeout

    @classmethod
    def from_env(cls):
        url = os.environ.get("WXCENTRAL_TOKEN_URL", "").strip()
        if not url:
            raise ValueError("WXCENTRAL_TOKEN_URL: required (the stack's TokenUrl output)")
        session = botocore.session.get_session()
        creds = session.get_credentials()
        return cls(
            url,
            service=os.environ.get("WXCENTRAL_SIGNING_SERVICE") or None,
            region=os.environ.get("AWS_REGION") or session.get_config_variable("region"),
            credentials=creds.get_frozen_credentials() if creds else None,
        )

    def get(self, appid, kind="access_token"):
        """GET /token?appid=&kind=: the credential, or WxcentralError."""
        # RFC 3986 encoding, as SigV4 canonicalises it ("/" too), so the URL sent is the one signed.
        query = urllib.parse.urlencode({"appid": appid, "kind": kind}, safe="", quote_via=urllib.parse.quote)
        return self._call("GET", f"{self.token_url}?{query}", None)

    def invalidate(self, appid, kind, token):
        """POST /token/invalidate: report a token WeChat rejected (40001,
        40014, 42001); answers the current credential after the refresh."""
        body = json.dumps({"appid": appid, "kind": kind, "token": token}).encode()
        return self._call("POST", self.token_url + "/invalidate", body)

    def _call(self, method, url, body):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        # The signature covers the method, path, query, host and body hash.
        SigV4Auth(self.credentials, self.service, self.region).add_auth(request)
        prepared = request.prepare()
        req = urllib.request.Request(prepared.url, data=body, method=method, headers=dict(prepared.headers))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = {}
            # Lambda or API Gateway answer a bad signature or a missing
            # permission with 403 {"Message"/"message": ...}.
            code = answer.get("error") or ("forbidden" if err.code == 403 else "http_error")
            message = answer.get("message") or answer.get("Message") or raw.decode(errors="replace")[:200]
            raise WxcentralError(err.code, code, message) from None


def main(argv):
    usage = "usage: wxcentral_token.py get APPID [KIND] | invalidate APPID [KIND] < rejected-token"
    if len(argv) < 2 or argv[0] not in ("get", "invalidate") or len(argv) > 3:
        print(usage, file=sys.stderr)
        return 2
    op, appid = argv[0], argv[1]
    kind = argv[2] if len(argv) == 3 else "access_token"
    try:
        client = TokenClient.from_env()
        if op == "get":
            answer = client.get(appid, kind)
        else:
            token = sys.stdin.readline().strip()
            if not token:
                print("invalidate: give the rejected token on standard input", file=sys.stderr)
                return 2
            answer = client.invalidate(appid, kind, token)
    except ValueError as err:
        print(f"wxcentral_token.py: {err}", file=sys.stderr)
        return 2
    except WxcentralError as err:
        print(json.dumps(err.answer))
        print(f"wxcentral_token.py: {err}", file=sys.stderr)
        return 1
    except urllib.error.URLError as err:
        print(f"wxcentral_token.py: {err.reason}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
