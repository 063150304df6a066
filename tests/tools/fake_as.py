#!/usr/bin/python3
"""Scripted OAuth2 authorization server for the mailtoken tests.

It replays provider replies (Microsoft AADSTS errors, Google quirks,
broken bodies) from scenario and fixture files. In "live" mode it issues
and checks tokens itself: authorization code with PKCE, refresh with
rotation, the device grant, and a tokeninfo endpoint for Dovecot. It
listens on 127.0.0.1 only and logs every request as one JSON line.

tests/tools/README.md documents the command line, the scenario format
and the log format. Standard library only, because CI runs Debian's
/usr/bin/python3 without extra modules.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid

# The last path component selects the endpoint, so Microsoft paths
# (/TENANT/oauth2/v2.0/token) and Google paths (/token, /device/code)
# reach the same handlers. Google's device endpoint ends in "code".
ROUTE_ALIASES = {
    "token": "token",
    "authorize": "authorize",
    "auth": "authorize",
    "devicecode": "device",
    "device_authorization": "device",
    "code": "device",
    "tokeninfo": "tokeninfo",
    "userinfo": "tokeninfo",
    "revoke": "revoke",
}
LIVE_ROUTES = ("token", "authorize", "device", "tokeninfo", "revoke")
CONTROL_PREFIX = "/_fake/"

MAX_REQUEST_BODY = 1024 * 1024
MAX_LOGGED_BODY = 64 * 1024
MAX_HUGE_BODY = 1024 * 1024 * 1024
SOCKET_TIMEOUT = 60
CODE_LIFETIME = 600
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

REPLY_KEYS = {
    "comment", "fixture", "status", "headers", "body", "body_base64",
    "json_indent", "delay", "dribble", "dribble_chunk", "huge", "huge_fill",
    "content_length", "close", "live",
}
ROUTE_KEYS = {"comment", "fixture", "replies", "then", "default"}
THEN_VALUES = ("repeat_last", "default", "live", "cycle")
SCENARIO_KEYS = {"comment", "routes", "live"}
LIVE_KEYS = {
    "comment", "style", "user", "access_token_length", "access_token_prefix",
    "refresh_token_length", "refresh_token_prefix", "expires_in",
    "expires_in_string", "token_type", "scope", "rotate_refresh_token",
    "strict_rotation", "omit_refresh_token_on_refresh", "refresh_token_rule",
    "invalid_refresh_code", "refresh_tokens", "access_tokens", "clients",
    "require_pkce", "redirect_uri_match", "authorize", "device",
}
CLIENT_KEYS = {"comment", "secret", "secret_expired", "redirect_uris"}
AUTHORIZE_KEYS = {"comment", "error", "error_description", "iss", "extra_params"}
DEVICE_KEYS = {
    "comment", "interval", "expires_in", "polls", "enforce_interval",
    "verification_uri", "reject_scopes",
}
DEVICE_STEPS = (
    "approve", "authorization_pending", "slow_down", "access_denied",
    "authorization_declined", "bad_verification_code", "expired_token",
)

# Defaults that differ between the two provider styles.
STYLE_DEFAULTS = {
    "microsoft": {
        "access_token_prefix": "",
        "refresh_token_prefix": "",
        "rotate_refresh_token": True,
        "omit_refresh_token_on_refresh": False,
        "device_expires_in": 900,
        "verification_uri": "https://microsoft.com/devicelogin",
        "reject_scopes": [],
    },
    "google": {
        "access_token_prefix": "ya29.",
        "refresh_token_prefix": "1//",
        "rotate_refresh_token": False,
        "omit_refresh_token_on_refresh": True,
        "device_expires_in": 1800,
        "verification_uri": "https://www.google.com/device",
        "reject_scopes": ["https://mail.google.com/"],
    },
}

# Microsoft error codes that live mode sends, with our own short texts.
# Clients must branch on "error", not on these texts.
MS_TEXT = {
    70000: "The provided grant is invalid or malformed.",
    70008: "The refresh token or authorization code has expired or was revoked.",
    54005: "The authorization code was already redeemed.",
    501481: "The code_verifier does not match the code_challenge of the authorization request.",
    900144: "The request body must contain the parameter '{0}'.",
    9002313: "The request is malformed or invalid.",
    70003: "The grant type '{0}' is not supported.",
    700016: "Application '{0}' was not found in the directory.",
    700025: "The client is public, so neither client_assertion nor client_secret may be sent.",
    7000218: "The request body must contain client_assertion or client_secret.",
    7000215: "The client secret is invalid.",
    7000222: "The client secret of application '{0}' has expired.",
    70011: "The scope '{0}' is not valid.",
    70016: "Device flow: authorization is pending. Continue polling.",
    70018: "Device flow: the verification code is invalid.",
    70019: "Device flow: the verification code has expired.",
}


class ScenarioError(Exception):
    """A scenario or fixture file that cannot be used."""


# ---------------------------------------------------------------------------
# Loading scenario and fixture files


def read_json_file(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise ScenarioError(f"failed to read {path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ScenarioError(f"{path} is not valid JSON: {e}") from None


class Loader:
    """Resolves fixture names and turns scenario JSON into checked objects."""

    def __init__(self, scenario_dir, fixture_dir):
        self.search_dirs = [scenario_dir, fixture_dir]

    def resolve(self, name):
        if os.path.isabs(name):
            candidates = [name]
        else:
            candidates = [os.path.join(d, name) for d in self.search_dirs]
        for path in candidates:
            if os.path.isfile(path):
                return path
        raise ScenarioError(
            f"fixture '{name}' not found (searched {', '.join(candidates)})")

    def load_reply(self, spec, where, depth=0):
        """Return a Reply for a reply object, or for a fixture name string."""
        if isinstance(spec, str):
            spec = {"fixture": spec}
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where}: a reply must be an object or a fixture name")
        check_keys(spec, REPLY_KEYS, where)
        if "fixture" in spec:
            if depth > 8:
                raise ScenarioError(f"{where}: fixtures nest more than 8 levels")
            path = self.resolve(spec["fixture"])
            base = read_json_file(path)
            if not isinstance(base, dict):
                raise ScenarioError(f"{path}: a reply fixture must be a JSON object")
            merged = dict(base)
            merged.update({k: v for k, v in spec.items() if k != "fixture"})
            merged.pop("comment", None)
            if "fixture" in base:
                return self.load_reply(merged, path, depth + 1)
            reply = Reply.from_spec(merged, path)
            reply.label = "fixture:" + spec["fixture"]
            return reply
        return Reply.from_spec(spec, where)

    def load_route(self, spec, where, has_live):
        if isinstance(spec, list):
            spec = {"replies": spec}
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where}: a route must be an object or a list of replies")
        check_keys(spec, ROUTE_KEYS, where)
        if "fixture" in spec:
            path = self.resolve(spec["fixture"])
            base = read_json_file(path)
            if not isinstance(base, dict):
                raise ScenarioError(f"{path}: a route fixture must be a JSON object")
            check_keys(base, ROUTE_KEYS - {"fixture"}, path)
            merged = dict(base)
            merged.update({k: v for k, v in spec.items() if k != "fixture"})
            spec = merged

        replies_spec = spec.get("replies", [])
        if not isinstance(replies_spec, list):
            raise ScenarioError(f"{where}: 'replies' must be a list")
        replies = [self.load_reply(r, f"{where} reply {i}")
                   for i, r in enumerate(replies_spec)]

        then = spec.get("then", "repeat_last")
        if then not in THEN_VALUES:
            raise ScenarioError(
                f"{where}: 'then' is '{then}', expected one of {', '.join(THEN_VALUES)}")
        default = None
        if "default" in spec:
            default = self.load_reply(spec["default"], f"{where} default")
        if then == "default" and default is None:
            raise ScenarioError(f"{where}: 'then' is 'default' but no 'default' reply is given")
        if then == "live" and not has_live:
            raise ScenarioError(f"{where}: 'then' is 'live' but the scenario has no 'live' section")

        if not replies and then in ("repeat_last", "cycle"):
            if has_live:
                then = "live"
            else:
                raise ScenarioError(f"{where}: no replies and no 'live' section")
        for i, r in enumerate(replies):
            if r.live and not has_live:
                raise ScenarioError(f"{where} reply {i}: 'live' needs a 'live' section")
        return RouteScript(replies, then, default)

    def load_scenario(self, path):
        data = read_json_file(path)
        if not isinstance(data, dict):
            raise ScenarioError(f"{path}: the scenario must be a JSON object")
        check_keys(data, SCENARIO_KEYS, path)
        live = None
        if "live" in data:
            live = LiveConfig(data["live"], f"{path} live")
        routes = {}
        routes_spec = data.get("routes", {})
        if not isinstance(routes_spec, dict):
            raise ScenarioError(f"{path}: 'routes' must be an object")
        for name, spec in routes_spec.items():
            if not name.startswith("/"):
                name = ROUTE_ALIASES.get(name, name)
            routes[name] = self.load_route(spec, f"{path} route {name}", live is not None)
        if not routes and live is None:
            raise ScenarioError(f"{path}: neither 'routes' nor 'live' is given")
        return routes, live


def check_keys(obj, allowed, where):
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}")


def check_number(obj, key, where, minimum=0, integer=False):
    if key not in obj:
        return None
    value = obj[key]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ScenarioError(f"{where}: '{key}' must be {kind} >= {minimum}, not {value!r}")
    return value


# ---------------------------------------------------------------------------
# Replies


class Reply:
    """One HTTP reply, or an instruction to close or to hand over to live mode."""

    def __init__(self, status=200, headers=None, body=b"", label="scripted"):
        self.status = status
        self.headers = list(headers or [])
        self.body = body
        self.delay = 0.0
        self.dribble = 0.0
        self.dribble_chunk = 1
        self.huge = 0
        self.huge_fill = b" "
        self.content_length = "auto"
        self.close = False
        self.live = False
        self.label = label

    @classmethod
    def from_spec(cls, spec, where):
        check_keys(spec, REPLY_KEYS, where)
        reply = cls()
        reply.live = spec.get("live", False) is True
        if reply.live:
            return reply

        status = spec.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ScenarioError(f"{where}: 'status' must be an integer from 100 to 599")
        reply.status = status

        headers = spec.get("headers", {})
        if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ScenarioError(f"{where}: 'headers' must map names to strings")
        if any(k.lower() in ("content-length", "transfer-encoding") for k in headers):
            raise ScenarioError(
                f"{where}: set the length with 'content_length', not in 'headers'")
        header_names = {k.lower() for k in headers}

        if "body" in spec and "body_base64" in spec:
            raise ScenarioError(f"{where}: give 'body' or 'body_base64', not both")
        content_type = None
        if "body_base64" in spec:
            try:
                reply.body = base64.b64decode(spec["body_base64"], validate=True)
            except (ValueError, TypeError):
                raise ScenarioError(f"{where}: 'body_base64' is not valid base64") from None
            content_type = "application/octet-stream"
        elif isinstance(spec.get("body"), str):
            reply.body = spec["body"].encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        elif "body" in spec:
            indent = check_number(spec, "json_indent", where, integer=True)
            reply.body = encode_json(spec["body"], indent)
            content_type = "application/json; charset=utf-8"
        if content_type and "content-type" not in header_names:
            reply.headers.append(("Content-Type", content_type))
        reply.headers.extend(headers.items())

        reply.delay = check_number(spec, "delay", where) or 0.0
        reply.dribble = check_number(spec, "dribble", where) or 0.0
        reply.dribble_chunk = check_number(spec, "dribble_chunk", where, 1, True) or 1
        reply.huge = check_number(spec, "huge", where, integer=True) or 0
        if reply.huge > MAX_HUGE_BODY:
            raise ScenarioError(f"{where}: 'huge' is limited to {MAX_HUGE_BODY} bytes")
        fill = spec.get("huge_fill", " ")
        if not isinstance(fill, str) or len(fill.encode("utf-8")) != 1:
            raise ScenarioError(f"{where}: 'huge_fill' must be one ASCII character")
        reply.huge_fill = fill.encode("utf-8")

        if "content_length" in spec:
            length = spec["content_length"]
            if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                                       or length < 0):
                raise ScenarioError(
                    f"{where}: 'content_length' must be null or an integer >= 0")
            reply.content_length = length

        close = spec.get("close", False)
        if close not in (False, True, "reset"):
            raise ScenarioError(f"{where}: 'close' must be false, true or \"reset\"")
        reply.close = close
        return reply

    def body_length(self):
        return max(len(self.body), self.huge)

    def body_chunks(self):
        yield self.body
        remaining = self.huge - len(self.body)
        block = self.huge_fill * 65536
        while remaining > 0:
            piece = block[:remaining]
            remaining -= len(piece)
            yield piece


def encode_json(obj, indent=None):
    """Encode compactly, as Microsoft does, or indented, as Google does."""
    if indent is None:
        return json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return json.dumps(obj, indent=indent).encode("utf-8")


def json_reply(status, obj, label, indent=None, headers=None):
    reply = Reply(status, [("Content-Type", "application/json; charset=utf-8")],
                  encode_json(obj, indent), label)
    reply.headers.extend(headers or [])
    return reply


def html_reply(status, text, label):
    page = ("<!DOCTYPE html>\n<html><head><title>fake_as</title></head>"
            f"<body><p>{text}</p></body></html>\n")
    return Reply(status, [("Content-Type", "text/html; charset=utf-8")],
                 page.encode("utf-8"), label)


class RouteScript:
    """A route's reply sequence, consumed in order by concurrent requests."""

    def __init__(self, replies, then, default):
        self.replies = replies
        self.then = then
        self.default = default
        self.index = 0
        self.lock = threading.Lock()

    def next_reply(self):
        """Return (reply, position), or (None, position) for live handling."""
        with self.lock:
            position = self.index
            self.index += 1
        count = len(self.replies)
        if position < count:
            return self.replies[position], position
        if self.then == "repeat_last":
            return self.replies[-1], position
        if self.then == "cycle":
            return self.replies[position % count], position
        if self.then == "default":
            return self.default, position
        return None, position


# ---------------------------------------------------------------------------
# Live mode: a small authorization server with provider-style errors


class LiveConfig:
    def __init__(self, spec, where):
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where}: 'live' must be an object")
        check_keys(spec, LIVE_KEYS, where)
        self.style = spec.get("style", "microsoft")
        if self.style not in STYLE_DEFAULTS:
            raise ScenarioError(f"{where}: 'style' must be \"microsoft\" or \"google\"")
        defaults = STYLE_DEFAULTS[self.style]

        self.user = string_option(spec, "user", "alice@example.test", where)
        self.access_token_length = check_number(
            spec, "access_token_length", where, 16, True) or 485
        self.refresh_token_length = check_number(
            spec, "refresh_token_length", where, 16, True) or 120
        self.access_token_prefix = string_option(
            spec, "access_token_prefix", defaults["access_token_prefix"], where)
        self.refresh_token_prefix = string_option(
            spec, "refresh_token_prefix", defaults["refresh_token_prefix"], where)
        for kind in ("access", "refresh"):
            if len(getattr(self, f"{kind}_token_prefix")) >= getattr(self, f"{kind}_token_length"):
                raise ScenarioError(f"{where}: the {kind} token prefix is not shorter "
                                    f"than the {kind} token length")
        self.expires_in = check_number(spec, "expires_in", where, -10**9, True)
        if self.expires_in is None:
            self.expires_in = 3599
        self.expires_in_string = bool_option(spec, "expires_in_string", False, where)
        self.token_type = string_option(spec, "token_type", "Bearer", where)
        self.scope = spec.get("scope")
        if self.scope is not None and not isinstance(self.scope, str):
            raise ScenarioError(f"{where}: 'scope' must be a string")

        self.rotate = bool_option(
            spec, "rotate_refresh_token", defaults["rotate_refresh_token"], where)
        self.strict_rotation = bool_option(spec, "strict_rotation", False, where)
        self.omit_refresh = bool_option(
            spec, "omit_refresh_token_on_refresh",
            defaults["omit_refresh_token_on_refresh"], where)
        if self.rotate and self.omit_refresh:
            raise ScenarioError(
                f"{where}: 'rotate_refresh_token' and 'omit_refresh_token_on_refresh' are "
                f"both true (the {self.style} style turns one on; set the other to false)")
        if self.strict_rotation and not self.rotate:
            raise ScenarioError(f"{where}: 'strict_rotation' needs 'rotate_refresh_token'")
        self.refresh_token_rule = spec.get("refresh_token_rule", "provider")
        if self.refresh_token_rule not in ("provider", "always"):
            raise ScenarioError(f"{where}: 'refresh_token_rule' must be \"provider\" or \"always\"")
        self.invalid_refresh_code = check_number(
            spec, "invalid_refresh_code", where, 1, True) or 70008

        self.refresh_tokens = spec.get("refresh_tokens", [])
        if not isinstance(self.refresh_tokens, list) or not all(
                isinstance(t, str) and t for t in self.refresh_tokens):
            raise ScenarioError(f"{where}: 'refresh_tokens' must be a list of strings")
        self.access_tokens = spec.get("access_tokens", {})
        if not isinstance(self.access_tokens, dict) or not all(
                isinstance(v, str) for v in self.access_tokens.values()):
            raise ScenarioError(f"{where}: 'access_tokens' must map tokens to user names")

        self.clients = None
        if "clients" in spec:
            self.clients = {}
            if not isinstance(spec["clients"], dict):
                raise ScenarioError(f"{where}: 'clients' must be an object")
            for client_id, client in spec["clients"].items():
                cwhere = f"{where} client {client_id}"
                if not isinstance(client, dict):
                    raise ScenarioError(f"{cwhere}: must be an object")
                check_keys(client, CLIENT_KEYS, cwhere)
                secret = client.get("secret")
                if secret is not None and not isinstance(secret, str):
                    raise ScenarioError(f"{cwhere}: 'secret' must be a string or null")
                uris = client.get("redirect_uris")
                if uris is not None and not (isinstance(uris, list) and all(
                        isinstance(u, str) for u in uris)):
                    raise ScenarioError(f"{cwhere}: 'redirect_uris' must be a list of strings")
                self.clients[client_id] = {
                    "secret": secret,
                    "secret_expired": bool_option(client, "secret_expired", False, cwhere),
                    "redirect_uris": uris,
                }

        self.require_pkce = bool_option(spec, "require_pkce", False, where)
        self.redirect_uri_match = spec.get("redirect_uri_match", "loopback_any_port")
        if self.redirect_uri_match not in ("exact", "loopback_any_port"):
            raise ScenarioError(
                f"{where}: 'redirect_uri_match' must be \"exact\" or \"loopback_any_port\"")

        authorize = spec.get("authorize", {})
        if not isinstance(authorize, dict):
            raise ScenarioError(f"{where}: 'authorize' must be an object")
        check_keys(authorize, AUTHORIZE_KEYS, f"{where} authorize")
        self.authorize_error = authorize.get("error")
        self.authorize_error_description = authorize.get("error_description")
        self.authorize_iss = authorize.get("iss")
        self.authorize_extra = authorize.get("extra_params", {})
        if not isinstance(self.authorize_extra, dict):
            raise ScenarioError(f"{where} authorize: 'extra_params' must be an object")

        device = spec.get("device", {})
        if not isinstance(device, dict):
            raise ScenarioError(f"{where}: 'device' must be an object")
        dwhere = f"{where} device"
        check_keys(device, DEVICE_KEYS, dwhere)
        if "interval" in device and device["interval"] is None:
            self.device_interval = None
        else:
            self.device_interval = check_number(device, "interval", dwhere, 0, True)
            if self.device_interval is None:
                self.device_interval = 5
        self.device_expires_in = check_number(device, "expires_in", dwhere, 1, True) \
            or defaults["device_expires_in"]
        self.device_polls = device.get("polls", ["approve"])
        if not isinstance(self.device_polls, list) or not self.device_polls or not all(
                step in DEVICE_STEPS for step in self.device_polls):
            raise ScenarioError(
                f"{dwhere}: 'polls' must be a non-empty list of {', '.join(DEVICE_STEPS)}")
        self.device_enforce_interval = bool_option(device, "enforce_interval", False, dwhere)
        self.verification_uri = string_option(
            device, "verification_uri", defaults["verification_uri"], dwhere)
        self.reject_scopes = device.get("reject_scopes", defaults["reject_scopes"])
        if not isinstance(self.reject_scopes, list):
            raise ScenarioError(f"{dwhere}: 'reject_scopes' must be a list of strings")


def string_option(spec, key, default, where):
    value = spec.get(key, default)
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: '{key}' must be a string")
    return value


def bool_option(spec, key, default, where):
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: '{key}' must be true or false")
    return value


def random_token(prefix, length):
    chars = secrets.token_urlsafe(length)
    return (prefix + chars)[:length]


def pkce_s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def is_loopback_http(parsed):
    return parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "::1", "localhost")


def redirect_uri_registered(uri, registered, mode):
    if uri in registered:
        return True
    if mode != "loopback_any_port":
        return False
    # Loopback redirect URIs match whatever their port (RFC 8252 section 7.3),
    # and Microsoft also treats a missing path as "/".
    requested = urllib.parse.urlsplit(uri)
    if not is_loopback_http(requested):
        return False
    for candidate in registered:
        known = urllib.parse.urlsplit(candidate)
        if (is_loopback_http(known) and known.hostname == requested.hostname
                and (known.path or "/") == (requested.path or "/")
                and known.query == requested.query):
            return True
    return False


def add_query(uri, params):
    parts = urllib.parse.urlsplit(uri)
    extra = urllib.parse.urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


class LiveServer:
    """Token, code and device-code state for live mode. All methods hold the lock."""

    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.access_tokens = {}
        self.refresh_tokens = {}
        self.codes = {}
        self.device_codes = {}
        self.counters = {
            "access_tokens_issued": 0,
            "refresh_tokens_issued": 0,
            "codes_issued": 0,
            "device_codes_issued": 0,
            "grants": {},
        }
        for token in config.refresh_tokens:
            self.refresh_tokens[token] = {
                "user": config.user, "client_id": None, "scope": config.scope or "",
                "dead": False}
        for token, user in config.access_tokens.items():
            self.access_tokens[token] = {
                "user": user, "client_id": None, "scope": config.scope or "",
                "expires_at": None, "revoked": False}

    # -- error bodies

    def error(self, status, error, code=None, detail="", google_description=None,
              label=None):
        label = label or f"live:{error}"
        if self.config.style == "google":
            body = {"error": error,
                    "error_description": google_description or detail or error}
            return json_reply(status, body, label, indent=2)
        return json_reply(status, microsoft_error_body(error, code, detail), label,
                          headers=[("Cache-Control", "no-store, no-cache"),
                                   ("Pragma", "no-cache")])

    def ms_error(self, status, error, code, argument="", google_description=None):
        text = MS_TEXT[code].format(argument)
        return self.error(status, error, code, text, google_description)

    # -- tokens

    def issue_access_token(self, user, client_id, scope):
        cfg = self.config
        token = random_token(cfg.access_token_prefix, cfg.access_token_length)
        self.access_tokens[token] = {
            "user": user, "client_id": client_id, "scope": scope,
            "expires_at": time.time() + cfg.expires_in, "revoked": False}
        self.counters["access_tokens_issued"] += 1
        return token

    def issue_refresh_token(self, user, client_id, scope):
        cfg = self.config
        token = random_token(cfg.refresh_token_prefix, cfg.refresh_token_length)
        self.refresh_tokens[token] = {
            "user": user, "client_id": client_id, "scope": scope, "dead": False}
        self.counters["refresh_tokens_issued"] += 1
        return token

    def token_reply(self, user, client_id, scope, with_refresh, label):
        cfg = self.config
        expires = str(cfg.expires_in) if cfg.expires_in_string else cfg.expires_in
        reply_scope = cfg.scope if cfg.scope is not None else scope
        access = self.issue_access_token(user, client_id, reply_scope)
        if cfg.style == "google":
            body = {"access_token": access, "expires_in": expires}
            if with_refresh:
                body["refresh_token"] = self.issue_refresh_token(user, client_id, scope)
            body["scope"] = reply_scope
            body["token_type"] = cfg.token_type
            return json_reply(200, body, label, indent=2)
        # Microsoft does not echo offline_access or the OpenID scopes.
        reported_scope = " ".join(
            s for s in reply_scope.split()
            if s not in ("offline_access", "openid", "profile", "email"))
        body = {"token_type": cfg.token_type, "scope": reported_scope, "expires_in": expires,
                "ext_expires_in": expires, "access_token": access}
        if with_refresh:
            body["refresh_token"] = self.issue_refresh_token(user, client_id, scope)
        return json_reply(200, body, label,
                          headers=[("Cache-Control", "no-store, no-cache"),
                                   ("Pragma", "no-cache")])

    def wants_refresh_token(self, scope, offline_requested):
        if self.config.refresh_token_rule == "always":
            return True
        if self.config.style == "google":
            return offline_requested
        return "offline_access" in scope.split()

    # -- client authentication

    def check_client(self, form, basic):
        """Return (client_id, None) or (None, error reply)."""
        if basic is not None and "client_secret" in form:
            return None, self.ms_error(400, "invalid_request", 9002313,
                                       google_description="Too many client credentials.")
        client_id = basic[0] if basic is not None else form.get("client_id", "")
        secret = basic[1] if basic is not None else form.get("client_secret")

        if not client_id:
            return None, self.ms_error(400, "invalid_request", 900144, "client_id",
                                       "Missing required parameter: client_id")
        clients = self.config.clients
        if clients is None:
            return client_id, None

        client = clients.get(client_id)
        if client is None:
            if self.config.style == "google":
                return None, self.error(401, "invalid_client",
                                        google_description="The OAuth client was not found.")
            return None, self.ms_error(400, "unauthorized_client", 700016, client_id)

        if client["secret"] is None and secret:
            return None, self.ms_error(401, "invalid_client", 700025,
                                       google_description="Unauthorized")
        if client["secret"] is not None and not secret:
            return None, self.ms_error(401, "invalid_client", 7000218,
                                       google_description="client_secret is missing.")
        if client["secret"] is not None and not secrets.compare_digest(
                secret.encode(), client["secret"].encode()):
            return None, self.ms_error(401, "invalid_client", 7000215,
                                       google_description="Unauthorized")
        if client["secret"] is not None and client["secret_expired"]:
            return None, self.ms_error(401, "invalid_client", 7000222, client_id,
                                       google_description="Unauthorized")
        return client_id, None

    # -- endpoints

    def authorize(self, query):
        with self.lock:
            return self._authorize(query)

    def _authorize(self, query):
        cfg = self.config
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        if not client_id or not redirect_uri:
            return html_reply(400, "client_id and redirect_uri are required.",
                              "live:authorize_bad_request")
        if cfg.clients is not None:
            client = cfg.clients.get(client_id)
            if client is None:
                return html_reply(400, f"Unknown client_id {client_id}.",
                                  "live:authorize_unknown_client")
            registered = client["redirect_uris"]
            if registered is not None and not redirect_uri_registered(
                    redirect_uri, registered, cfg.redirect_uri_match):
                # RFC 6749 section 4.1.2.1: never redirect to an unregistered URI.
                return html_reply(400, "The redirect_uri is not registered for this client.",
                                  "live:authorize_redirect_uri_mismatch")

        state = query.get("state")

        def redirect_error(error, description):
            params = {"error": error, "error_description": description}
            if state is not None:
                params["state"] = state
            location = add_query(redirect_uri, params)
            return Reply(302, [("Location", location)], b"", f"live:authorize_{error}")

        if query.get("response_type") != "code":
            return redirect_error("unsupported_response_type", "response_type must be code")
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method", "plain" if challenge else None)
        if challenge is None and cfg.require_pkce:
            return redirect_error("invalid_request", "code_challenge is required")
        if challenge is not None and method not in ("S256", "plain"):
            return redirect_error("invalid_request", "code_challenge_method must be S256")
        if cfg.authorize_error:
            return redirect_error(cfg.authorize_error,
                                  cfg.authorize_error_description or cfg.authorize_error)

        code = secrets.token_urlsafe(32)
        self.codes[code] = {
            "client_id": client_id, "redirect_uri": redirect_uri,
            "challenge": challenge, "method": method,
            "scope": query.get("scope", ""),
            "offline": query.get("access_type") == "offline",
            "expires_at": time.time() + CODE_LIFETIME, "used": False}
        self.counters["codes_issued"] += 1
        params = {"code": code}
        if state is not None:
            params["state"] = state
        if cfg.authorize_iss:
            params["iss"] = cfg.authorize_iss
        params.update({k: str(v) for k, v in cfg.authorize_extra.items()})
        return Reply(302, [("Location", add_query(redirect_uri, params))], b"",
                     "live:authorize_code")

    def token(self, form, basic):
        with self.lock:
            grant = form.get("grant_type", "")
            grants = self.counters["grants"]
            grants[grant] = grants.get(grant, 0) + 1
            client_id, failure = self.check_client(form, basic)
            if failure is not None:
                return failure
            if grant == "authorization_code":
                return self._code_grant(form, client_id)
            if grant == "refresh_token":
                return self._refresh_grant(form, client_id)
            if grant == DEVICE_GRANT:
                return self._device_grant(form, client_id)
            if not grant:
                return self.ms_error(400, "invalid_request", 900144, "grant_type",
                                     "Missing required parameter: grant_type")
            return self.ms_error(400, "unsupported_grant_type", 70003, grant,
                                 f"Invalid grant_type: {grant}")

    def _code_grant(self, form, client_id):
        code = form.get("code")
        if not code:
            return self.ms_error(400, "invalid_request", 900144, "code",
                                 "Missing required parameter: code")
        record = self.codes.get(code)
        if record is None or record["client_id"] != client_id:
            return self.ms_error(400, "invalid_grant", 70000,
                                 google_description="Malformed auth code.")
        if record["used"]:
            return self.ms_error(400, "invalid_grant", 54005,
                                 google_description="Bad Request")
        if time.time() > record["expires_at"]:
            return self.ms_error(400, "invalid_grant", 70008,
                                 google_description="Bad Request")
        if form.get("redirect_uri") != record["redirect_uri"]:
            if self.config.style == "google":
                return self.error(400, "redirect_uri_mismatch",
                                  google_description="Bad Request")
            return self.error(400, "invalid_grant", 70000,
                              "The redirect_uri differs from the one in the authorization request.")
        if record["challenge"] is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return self.ms_error(400, "invalid_grant", 501481,
                                     google_description="Missing code verifier.")
            computed = pkce_s256(verifier) if record["method"] == "S256" else verifier
            if not secrets.compare_digest(computed.encode(), record["challenge"].encode()):
                return self.ms_error(400, "invalid_grant", 501481,
                                     google_description="Invalid code verifier.")
        record["used"] = True
        scope = record["scope"]
        return self.token_reply(self.config.user, client_id, scope,
                                self.wants_refresh_token(scope, record["offline"]),
                                "live:code_grant")

    def _refresh_grant(self, form, client_id):
        cfg = self.config
        token = form.get("refresh_token")
        if not token:
            return self.ms_error(400, "invalid_request", 900144, "refresh_token",
                                 "Missing required parameter: refresh_token")
        record = self.refresh_tokens.get(token)
        if (record is None or record["dead"]
                or (record["client_id"] is not None and record["client_id"] != client_id)):
            code = cfg.invalid_refresh_code
            text = MS_TEXT.get(code, "The refresh token is not valid.").format("")
            return self.error(400, "invalid_grant", code, text,
                              "Token has been expired or revoked.",
                              label="live:refresh_token_dead")
        if record["client_id"] is None:
            record["client_id"] = client_id
        scope = form.get("scope") or record["scope"]
        with_refresh = cfg.rotate and not cfg.omit_refresh
        if cfg.strict_rotation:
            record["dead"] = True
        return self.token_reply(record["user"], client_id, scope, with_refresh,
                                "live:refresh_grant")

    def device(self, form, basic):
        with self.lock:
            cfg = self.config
            client_id, failure = self.check_client(form, basic)
            if failure is not None:
                return failure
            scope = form.get("scope", "")
            for rejected in cfg.reject_scopes:
                if rejected in scope.split():
                    return self.ms_error(400, "invalid_scope", 70011, rejected,
                                         f"Invalid device flow scope: {rejected}")
            device_code = secrets.token_urlsafe(48)
            alphabet = "BCDFGHJKLMNPQRSTVWXZ"
            user_code = "".join(secrets.choice(alphabet) for _ in range(8))
            self.device_codes[device_code] = {
                "client_id": client_id, "scope": scope, "index": 0,
                "interval": cfg.device_interval or 5, "last_poll": None,
                "expires_at": time.time() + cfg.device_expires_in, "done": False}
            self.counters["device_codes_issued"] += 1
            if cfg.style == "google":
                user_code = f"{user_code[:4]}-{user_code[4:]}"
                body = {"device_code": device_code, "user_code": user_code,
                        "expires_in": cfg.device_expires_in}
                if cfg.device_interval is not None:
                    body["interval"] = cfg.device_interval
                body["verification_url"] = cfg.verification_uri
                return json_reply(200, body, "live:device_code", indent=2)
            body = {"user_code": user_code, "device_code": device_code,
                    "verification_uri": cfg.verification_uri,
                    "expires_in": cfg.device_expires_in}
            if cfg.device_interval is not None:
                body["interval"] = cfg.device_interval
            body["message"] = (f"To sign in, open {cfg.verification_uri} in a web browser "
                               f"and enter the code {user_code}.")
            return json_reply(200, body, "live:device_code")

    def _device_grant(self, form, client_id):
        cfg = self.config
        device_code = form.get("device_code")
        if not device_code:
            return self.ms_error(400, "invalid_request", 900144, "device_code",
                                 "Missing required parameter: device_code")
        record = self.device_codes.get(device_code)
        if record is None or record["done"] or record["client_id"] != client_id:
            return self.ms_error(400, "invalid_grant", 70000,
                                 google_description="Bad Request")

        now = time.time()
        if now > record["expires_at"]:
            record["done"] = True
            return self.device_error("expired_token")
        too_early = (record["last_poll"] is not None
                     and now - record["last_poll"] < record["interval"])
        record["last_poll"] = now
        if cfg.device_enforce_interval and too_early:
            record["interval"] += 5
            return self.device_error("slow_down")

        polls = cfg.device_polls
        step = polls[min(record["index"], len(polls) - 1)]
        record["index"] += 1
        if step == "approve":
            record["done"] = True
            scope = record["scope"]
            return self.token_reply(cfg.user, client_id, scope,
                                    self.wants_refresh_token(scope, True),
                                    "live:device_grant")
        if step == "slow_down":
            record["interval"] += 5
        elif step != "authorization_pending":
            record["done"] = True
        return self.device_error(step)

    def device_error(self, step):
        if self.config.style == "google":
            status, description = {
                "authorization_pending": (428, "Precondition Required"),
                "slow_down": (403, "Forbidden"),
                "access_denied": (403, "Forbidden"),
                "expired_token": (400, "Bad Request"),
            }.get(step, (400, "Bad Request"))
            return self.error(status, step, google_description=description,
                              label=f"live:device_{step}")
        code = {"authorization_pending": 70016, "bad_verification_code": 70018,
                "expired_token": 70019}.get(step)
        text = MS_TEXT[code] if code else {
            "slow_down": "Device flow: polling too often. Slow down.",
            "authorization_declined": "Device flow: the user declined the request.",
            "access_denied": "Device flow: access was denied.",
        }[step]
        return self.error(400, step, code, text, label=f"live:device_{step}")

    def tokeninfo(self, token):
        with self.lock:
            record = self.access_tokens.get(token) if token else None
            now = time.time()
            if (record is None or record["revoked"]
                    or (record["expires_at"] is not None and now >= record["expires_at"])):
                return json_reply(401, {"error": "invalid_token",
                                        "error_description": "unknown, expired or revoked token"},
                                  "live:tokeninfo_invalid")
            body = {"email": record["user"], "active": True,
                    "scope": record["scope"], "client_id": record["client_id"]}
            if record["expires_at"] is not None:
                body["exp"] = int(record["expires_at"])
                body["expires_in"] = max(0, int(record["expires_at"] - now))
            return json_reply(200, body, "live:tokeninfo_active")

    def revoke(self, token, kind="both"):
        """Mark one token, or every token of a kind when token is None, as revoked."""
        with self.lock:
            count = 0
            if kind in ("access", "both"):
                for key, record in self.access_tokens.items():
                    if (token is None or key == token) and not record["revoked"]:
                        record["revoked"] = True
                        count += 1
            if kind in ("refresh", "both"):
                for key, record in self.refresh_tokens.items():
                    if (token is None or key == token) and not record["dead"]:
                        record["dead"] = True
                        count += 1
            return count

    def snapshot(self):
        with self.lock:
            state = json.loads(json.dumps(self.counters))
            state["refresh_tokens_valid"] = sum(
                1 for r in self.refresh_tokens.values() if not r["dead"])
            state["access_tokens_valid"] = sum(
                1 for r in self.access_tokens.values() if not r["revoked"])
            return state


def microsoft_error_body(error, code, detail):
    """Build a body shaped like Microsoft's: the description ends in trace lines."""
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    timestamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    prefix = f"AADSTS{code}: " if code else ""
    description = (f"{prefix}{detail}\r\nTrace ID: {trace_id}\r\n"
                   f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}")
    body = {"error": error, "error_description": description}
    if code:
        body["error_codes"] = [code]
    body["timestamp"] = timestamp
    body["trace_id"] = trace_id
    body["correlation_id"] = correlation_id
    if code:
        body["error_uri"] = f"https://login.microsoftonline.com/error?code={code}"
    return body


# ---------------------------------------------------------------------------
# HTTP server


class RequestLog:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()
        self.sequence = 0

    def next_sequence(self):
        with self.lock:
            self.sequence += 1
            return self.sequence

    def write(self, record):
        line = json.dumps(record, ensure_ascii=False, sort_keys=False)
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()


def flatten_params(pairs):
    """Turn parse_qsl pairs into a dict; a repeated name maps to a list."""
    result = {}
    for name, value in pairs:
        if name in result:
            if isinstance(result[name], list):
                result[name].append(value)
            else:
                result[name] = [result[name], value]
        else:
            result[name] = value
    return result


def single_values(params):
    return {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}


def parse_basic(header):
    """Return (user, password) from an HTTP Basic header, form-decoded, or None."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake_as"
    sys_version = ""
    timeout = SOCKET_TIMEOUT

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_as: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        received = time.time()
        server = self.server
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        query = flatten_params(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))

        record = {
            "seq": server.request_log.next_sequence(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(received))
                    + f".{int(received * 1000) % 1000:03d}Z",
            "epoch": round(received, 3),
            "tls": server.tls,
            "method": self.command,
            "path": path,
            "query": query,
            "headers": {},
        }
        for name, value in self.headers.items():
            if name in record["headers"]:
                record["headers"][name] += ", " + value
            else:
                record["headers"][name] = value

        raw, body_error = self.read_body()
        form = {}
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if raw and content_type == "application/x-www-form-urlencoded":
            try:
                text = raw.decode("utf-8")
                form = flatten_params(urllib.parse.parse_qsl(text, keep_blank_values=True))
            except UnicodeDecodeError:
                record["body"] = raw[:MAX_LOGGED_BODY].decode("utf-8", "replace")
            record["form"] = form
        elif raw:
            record["body"] = raw[:MAX_LOGGED_BODY].decode("utf-8", "replace")
        record["body_bytes"] = len(raw)
        basic = parse_basic(self.headers.get("Authorization", ""))
        record["basic_user"] = basic[0] if basic else None

        record["route"] = None
        record["position"] = None
        if body_error is not None:
            reply = body_error
        else:
            try:
                reply, record["route"], record["position"] = server.dispatch(
                    self, path, query, form, basic)
            except Exception as e:  # reply 500 so that the test fails instead of hanging
                sys.stderr.write(f"fake_as: internal error on {self.command} {path}: {e!r}\n")
                reply = json_reply(500, {"error": "fake_as_internal_error",
                                         "error_description": repr(e)}, "internal_error")
        record["status"] = None if reply.close else reply.status
        record["reply"] = reply.label
        server.request_log.write(record)
        server.count(record["route"])
        self.send_reply(reply)

    def read_body(self):
        """Return (bytes, None), or (b"", error reply) for bodies we do not accept."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return b"", json_reply(411, {"error": "invalid_request",
                                         "error_description": "chunked bodies are not supported"},
                                   "length_required")
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b"", None
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BODY:
            self.close_connection = True
            return b"", json_reply(413, {"error": "invalid_request",
                                         "error_description": "request body too large"},
                                   "body_too_large")
        return self.rfile.read(length), None

    def send_reply(self, reply):
        if reply.delay:
            time.sleep(reply.delay)
        if reply.close:
            self.close_connection = True
            if reply.close == "reset":
                # A zero linger time makes close() send RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            length = reply.body_length()
            if reply.content_length is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                declared = length if reply.content_length == "auto" else reply.content_length
                self.send_header("Content-Length", str(declared))
                if declared != length:
                    self.close_connection = True
            self.end_headers()
            for chunk in reply.body_chunks():
                if reply.dribble:
                    step = reply.dribble_chunk
                    for i in range(0, len(chunk), step):
                        time.sleep(reply.dribble)
                        self.wfile.write(chunk[i:i + step])
                        self.wfile.flush()
                else:
                    self.wfile.write(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError) as e:
            sys.stderr.write(f"fake_as: sending the reply to {self.command} {self.path} "
                             f"failed: {e!r}\n")
            self.close_connection = True


class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, routes, live, request_log, tls_context, verbose):
        self.routes = routes
        self.live = LiveServer(live) if live is not None else None
        self.request_log = request_log
        self.tls_context = tls_context
        self.tls = tls_context is not None
        self.verbose = verbose
        self.request_counts = {}
        self.count_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), FakeHandler)

    def finish_request(self, request, client_address):
        request.settimeout(SOCKET_TIMEOUT)
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        # The TLS handshake runs here, in the request's thread, so that a
        # client that never finishes it cannot block the accept loop.
        try:
            tls_request = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write(f"fake_as: TLS handshake with {client_address[0]}:"
                             f"{client_address[1]} failed: {e}\n")
            return
        try:
            super().finish_request(tls_request, client_address)
        finally:
            self.shutdown_request(tls_request)

    def count(self, route):
        with self.count_lock:
            key = route or "none"
            self.request_counts[key] = self.request_counts.get(key, 0) + 1

    def dispatch(self, handler, path, query, form, basic):
        """Return (reply, route name, position in the route's script or None)."""
        if path.startswith(CONTROL_PREFIX):
            reply = self.control(handler.command, path[len(CONTROL_PREFIX):], form)
            return reply, "_fake", None
        last = path.rstrip("/").rsplit("/", 1)[-1]
        canonical = ROUTE_ALIASES.get(last, last)
        route = path if path in self.routes else canonical
        script = self.routes.get(route)
        position = None
        if script is not None:
            reply, position = script.next_reply()
            if reply is not None and not reply.live:
                return reply, route, position
        if self.live is not None and canonical in LIVE_ROUTES:
            return self.live_reply(handler, canonical, query, form, basic), route, position
        body = {"error": "not_found",
                "error_description": f"no scripted or live route for {path}"}
        return json_reply(404, body, "not_found"), route, position

    def live_reply(self, handler, route, query, form, basic):
        params = single_values(form)
        if handler.command == "GET" and route in ("token", "device", "revoke"):
            return json_reply(405, {"error": "invalid_request",
                                    "error_description": "use POST"}, "live:method")
        repeated = [k for k, v in form.items() if isinstance(v, list)]
        if repeated:
            # RFC 6749 section 3.2: parameters must not be repeated.
            return self.live.ms_error(400, "invalid_request", 9002313,
                                      google_description=f"Duplicate parameter: {repeated[0]}")
        if route == "authorize":
            return self.live.authorize(single_values(query))
        if route == "token":
            return self.live.token(params, basic)
        if route == "device":
            return self.live.device(params, basic)
        if route == "tokeninfo":
            token = single_values(query).get("access_token") or params.get("access_token")
            auth = handler.headers.get("Authorization", "")
            if not token and auth[:7].lower() == "bearer ":
                token = auth[7:].strip()
            return self.live.tokeninfo(token)
        # revoke: Google's endpoint returns 200 with an empty body.
        token = params.get("token")
        if not token or self.live.revoke(token) == 0:
            return json_reply(400, {"error": "invalid_token",
                                    "error_description": "Token expired or revoked"},
                              "live:revoke_unknown", indent=2)
        return Reply(200, [("Content-Type", "application/json; charset=utf-8")], b"",
                     "live:revoke")

    def control(self, method, name, form):
        if self.live is None:
            return json_reply(404, {"error": "no live section in this scenario"},
                              "control:no_live")
        params = single_values(form)
        if name == "state" and method == "GET":
            state = self.live.snapshot()
            with self.count_lock:
                state["requests"] = dict(self.request_counts)
            return json_reply(200, state, "control:state")
        if name == "revoke" and method == "POST":
            kind = params.get("kind", "both")
            if kind not in ("access", "refresh", "both"):
                return json_reply(400, {"error": "kind must be access, refresh or both"},
                                  "control:bad_request")
            token = params.get("token")
            if token is None and params.get("all") != "1":
                return json_reply(400, {"error": "give token=... or all=1"},
                                  "control:bad_request")
            return json_reply(200, {"revoked": self.live.revoke(token, kind)},
                              "control:revoke")
        return json_reply(404, {"error": f"unknown control request {method} {name}"},
                          "control:not_found")


# ---------------------------------------------------------------------------
# Main


def parse_arguments(argv):
    tools_dir = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(
        description="Scripted OAuth2 authorization server for the mailtoken tests "
                    "(listens on 127.0.0.1 only).")
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port on 127.0.0.1 (1-65535)")
    parser.add_argument("--scenario", required=True, help="scenario JSON file")
    parser.add_argument("--log", required=True,
                        help="request log: one JSON line per request, appended")
    parser.add_argument("--pidfile", help="file that receives the PID once listening")
    parser.add_argument("--tls-cert", help="PEM certificate chain; enables HTTPS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--fixtures", default=os.path.join(tools_dir, "..", "fixtures", "provider"),
                        help="folder searched for fixture names after the scenario's folder "
                             "(default: tests/fixtures/provider)")
    parser.add_argument("--check", action="store_true",
                        help="load the scenario and its fixtures, then exit (0 = valid)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print each request to standard error")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is outside 1-65535")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key must be given together")
    return args


def write_pidfile(path):
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(temporary, path)


def main(argv):
    args = parse_arguments(argv)
    scenario_dir = os.path.dirname(os.path.abspath(args.scenario))
    loader = Loader(scenario_dir, os.path.abspath(args.fixtures))
    try:
        routes, live = loader.load_scenario(args.scenario)
    except ScenarioError as e:
        sys.stderr.write(f"fake_as: invalid scenario: {e}\n")
        return 2
    if args.check:
        return 0

    tls_context = None
    if args.tls_cert:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls_context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write(f"fake_as: failed to load {args.tls_cert} / {args.tls_key}: {e}\n")
            return 1

    try:
        request_log = RequestLog(args.log)
    except OSError as e:
        sys.stderr.write(f"fake_as: failed to open log {args.log}: {e.strerror}\n")
        return 1
    try:
        server = FakeServer(args.port, routes, live, request_log, tls_context, args.verbose)
    except OSError as e:
        sys.stderr.write(f"fake_as: failed to listen on 127.0.0.1:{args.port}: {e.strerror}\n")
        return 1

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.pidfile:
        write_pidfile(args.pidfile)
    scheme = "https" if tls_context else "http"
    sys.stderr.write(f"fake_as: listening on {scheme}://127.0.0.1:{args.port}/ "
                     f"(pid {os.getpid()}, scenario {args.scenario})\n")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
        sys.stderr.write("fake_as: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
