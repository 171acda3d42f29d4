"""One scrubber for every place a tracking URI shows: run tags, printed lines, log messages and spool headers.

Credentials ride in a URI's user info (``http://alice:secret@host``) and in query values such as
``?token=...``. The user info is whatever precedes the *last* ``@`` of the network location (a
password may itself hold an ``@``, which MLflow accepts), so it is cut with a URL parser and
``rpartition``, never with a pattern that stops at the first ``@``. Scrubbed URIs keep scheme,
host, port, path and harmless query parameters, so that they still name the store and can be
used as they are (credentials then come from MLflow's environment variables).
"""

from __future__ import annotations

import re
import urllib.parse

SECRET_KEYS = ("token", "key", "secret", "password", "passwd", "pwd", "sig", "signature", "auth", "credential")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")  # only finds where a URL starts and ends; scrub parses it


def scrub(uri: str) -> str:
    """*uri* without user info, secret-looking query parameters or fragment."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.netloc:  # a path or a name (sqlite:///x.db, databricks): no place for credentials
        return uri
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(pair for pair in parts.query.split("&") if pair and not _secret(pair.partition("=")[0]))
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, query, ""))


def scrub_text(text: str) -> str:
    """*text* (a command line, an error message) with every URL in it scrubbed."""
    return _URL.sub(lambda found: scrub(found[0]), text)


def _secret(key: str) -> bool:
    name = urllib.parse.unquote_plus(key).lower()
    return any(word in name for word in SECRET_KEYS)
