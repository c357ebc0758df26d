"""Bad-input payload classes (issue 15, item 6) and the crawlers that send them to every
form of the registered views and every operation of the OpenAPI document.

Nothing here lists a route by hand: forms are found by walking ``appbuilder.baseviews``
(each view's list, add, edit and show pages, and its other GET pages without
arguments) and reading the ``<form method="post">`` they contain; API operations come
from ``/api/v1/_openapi``. Each payload goes into one field at a time, the other fields
keeping the values the page showed, so a payload meets the field's own validation and,
if that lets it through, the database.

Used by ``tests/integration/test_bad_input_fuzz.py`` (0 answers >= 500) and by the
regression tests of ``test_bad_input.py``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

from flask import got_request_exception

# Form values, as the raw bytes a browser (or an attacker) sends after URL-decoding.
FORM_PAYLOADS: dict[str, bytes] = {
    "nul_byte": b"a\x00b",
    "invalid_utf8": b"\xff\xfe\xc3(",
    "lone_surrogate": b"\xed\xa0\x80",  # U+D800 as (invalid) UTF-8
    "format_d": b"%d",
    "format_named": b"%(x)s",
    "format_percent": b"100%",
    "nan": b"NaN",
    "infinity": b"inf",
    "huge_number": b"99999999999999999999999999",
    "id_beyond_int64": str(2**63).encode(),
}

# Search text (list filters, relation pickers) is no field of a record: one payload of
# each kind (door, format string, special number, overflowing id) is enough there.
SEARCH_PAYLOADS = {name: FORM_PAYLOADS[name] for name in ("nul_byte", "invalid_utf8", "format_percent", "nan",
                                                          "id_beyond_int64")}

# JSON values put in one property of a request body (raw JSON text).
JSON_VALUE_PAYLOADS: dict[str, str] = {
    "nul_byte": '"a\\u0000b"',
    "lone_surrogate": '"\\ud800"',
    "format_d": '"%d"',
    "format_named": '"%(x)s"',
    "format_percent": '"100%"',
    "nan": "NaN",
    "infinity": "Infinity",
    "overflowing_float": "1e400",
    "huge_number": "99999999999999999999999999",
    "id_beyond_int64": str(2**63),
    "number": "1",
    "boolean": "true",
    "list": "[1, 2, 3]",
    "object": '{"a": 1}',
    "null": "null",
}

# Whole request bodies that are not an object of fields.
JSON_BODY_PAYLOADS: dict[str, bytes] = {
    "list_body": b"[1,2,3]",
    "string_body": b'"x"',
    "number_body": b"1",
    "null_body": b"null",
    "deeply_nested": b"[" * 100_000 + b"]" * 100_000,
    "deeply_nested_object": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "invalid_utf8_body": b'{"name": "\xff\xfe"}',
    "not_json": b"{'name': ",
}

# Rison ``q`` arguments of list/get/info operations (``{column}``: a searchable column).
RISON_PAYLOADS: dict[str, str] = {
    "unbalanced": "(((",
    "deeply_nested": "(a:" * 2_000 + "1" + ")" * 2_000,
    "deeply_nested_list": "!(" * 2_000 + ")" * 2_000,
    "list_filter_value": "(filters:!((col:{column},opr:eq,value:!(1,2))))",
    "object_filter_value": "(filters:!((col:{column},opr:eq,value:(a:1))))",
    "nul_filter_value": "(filters:!((col:{column},opr:eq,value:'a\x00b')))",
    "format_filter_value": "(filters:!((col:{column},opr:ct,value:'%d%(x)s100%')))",
    "unknown_filter_column": "(filters:!((col:no_such_column,opr:eq,value:1)))",
    "unknown_filter_operator": "(filters:!((col:{column},opr:no_such_operator,value:1)))",
    "unknown_order_column": "(order_column:no_such_column,order_direction:asc)",
    "bad_order_direction": "(order_column:{order},order_direction:sideways)",
    "huge_page": "(page:99999999999999999999,page_size:99999999999999999999)",
    "nan_page": "(page:NaN)",
    "columns_list_of_lists": "(columns:!(!(a)))",
    "keys_not_a_list": "(keys:1)",
    "not_an_object": "!(1,2,3)",
}

# Path ``pk`` values of get/put/delete operations.
PK_PAYLOADS: dict[str, str] = {"id_beyond_int64": str(2**63), "negative": "-1", "nul_byte": "%00",
                               "format_d": "%25d", "not_a_number": "abc", "invalid_utf8": "%FF"}

# Ordering columns and action names no view has.
ORDER_PAYLOADS = ("no_such_column", "%d", "id;drop", "a\x00b")
ACTION_PAYLOADS = ("muldelete", "no_such_action", "%d", "a\x00b")


# --------------------------------------------------------------------------- responses


@dataclass
class Tally:
    """Requests sent and answers >= 500, with the exception behind each (if any)."""

    sent: int = 0
    by_class: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    last_exception: list = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def record(self, payload_class: str, description: str, response) -> None:
        self.sent += 1
        self.by_class[payload_class] = self.by_class.get(payload_class, 0) + 1
        if response.status_code >= 500:
            cause = self.last_exception[-1] if self.last_exception else response.get_data(as_text=True)[:160]
            self.failures.append(f"{response.status_code} {payload_class}: {description} ({cause})")
            from app.extensions import db

            db.session.rollback()  # the test keeps one app context (and session) across requests
        self.last_exception.clear()

    def listen(self, app):
        def _record(sender, exception, **extra):
            self.last_exception.append(f"{type(exception).__name__}: {str(exception)[:160]}")

        self._listener = _record
        got_request_exception.connect(_record, app, weak=False)

    def stop(self, app) -> None:
        got_request_exception.disconnect(self._listener, app)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------- HTML forms


@dataclass
class HtmlForm:
    action: str
    multipart: bool
    fields: list = field(default_factory=list)  # [(name, value, kind)] kind: text/file/checkbox/select/...


class _FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[HtmlForm] = []
        self._form: HtmlForm | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            action = urllib.parse.urljoin(self.page_url, a.get("action") or self.page_url)
            self._form = HtmlForm(action, "multipart" in (a.get("enctype") or ""))
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form.fields.append((name, None, kind))
            else:
                self._form.fields.append((name, a.get("value") or "", kind))
        elif tag == "select" and name:
            self._select, self._select_value, self._multiple, self._chosen = name, None, "multiple" in a, []
        elif tag == "option" and self._select is not None:
            if "selected" in a:
                self._chosen.append(a.get("value", ""))
            if "selected" in a or self._select_value is None:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            if self._multiple:  # every chosen option (none chosen: none sent)
                self._form.fields.extend((self._select, value, "select") for value in self._chosen)
            else:
                self._form.fields.append((self._select, self._select_value or "", "select"))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append((self._textarea, "".join(self._text), "textarea"))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)


def parse_page(url: str, html: str) -> tuple[list[HtmlForm], list[str]]:
    parser = _FormParser(url)
    parser.feed(html)
    return parser.forms, parser.links


def encode_form(fields: list, multipart: bool) -> tuple[bytes, str]:
    """``fields``: [(name, bytes value, kind)]; a file field is sent as a small text file."""
    if not multipart:
        pairs = [(name.encode(), value) for name, value, kind in fields if kind != "file"]
        return urllib.parse.urlencode(pairs).encode(), "application/x-www-form-urlencoded"
    boundary = "atriumfuzzboundary"
    out = []
    for name, value, kind in fields:
        if kind == "file":
            out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="notes.txt"\r\n'
                       f"Content-Type: text/plain\r\n\r\n".encode() + b"plain notes\r\n")
        else:
            out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                       + value + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


# Forms the sweep does not submit: they end the sweeping user's session or identity
# (view-as start/end, sign-out) or delete the record the other payloads are sent to.
SKIPPED_FORM_ACTIONS = re.compile(r"/impersonate/|/logout|/delete/|/login/")


def view_pages(app, view, client) -> list[str]:
    """The pages of ``view`` a person opens: its list, add form, the edit and show pages
    of the first row they can see, and its other GET routes without arguments."""
    prefix = view.endpoint + "."
    pages, with_pk = [], []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(prefix) or "GET" not in rule.methods:
            continue
        method = rule.endpoint[len(prefix):]
        if method in ("export", "download", "picker", "api", "api_read", "api_get", "api_readvalues",
                      "api_column_add", "api_column_edit", "action", "delete"):
            continue
        if SKIPPED_FORM_ACTIONS.search(rule.rule):
            continue
        if not rule.arguments:
            pages.append(rule.rule)
        elif rule.arguments == {"pk"} and method in ("edit", "show"):
            with_pk.append(rule.rule)
    return pages, with_pk


def row_pk(client, list_url: str) -> str | None:
    """The id of the last row on the list's first page (the first is often the sweeping
    user's own record or role, which the edit payloads would change under them)."""
    response = client.get(list_url)
    if response.status_code != 200:
        return None
    _, links = parse_page(list_url, response.get_data(as_text=True))
    found = None
    for link in links:
        match = re.search(r"/(?:show|edit)/(\d+)(?:\?|$)", link)
        if match and link.split("?")[0].startswith(list_url.rsplit("/list", 1)[0]):
            found = match.group(1)
    return found


def in_shard(app, view, shard: tuple[int, int]) -> bool:
    """Whether ``view`` is in part ``shard[0]`` of ``shard[1]``: the sweeps split the
    registered views, dealt round by name, so parts can run in parallel."""
    index, parts = shard
    names = sorted(type(each).__name__ for each in app.appbuilder.baseviews)
    return names.index(type(view).__name__) % parts == index


def discover_forms(app, client, shard: tuple[int, int] = (0, 1)) -> list[tuple[str, HtmlForm]]:
    """Every ``<form method="post">`` on the pages of every registered view (of this
    ``shard``) this user can open, once per (action, field names)."""
    found, seen = [], set()
    for view in app.appbuilder.baseviews:
        if not in_shard(app, view, shard):
            continue
        pages, with_pk = view_pages(app, view, client)
        list_url = next((p for p in pages if p.endswith("/list/")), None)
        pk = row_pk(client, list_url) if list_url and with_pk else None
        urls = list(pages) + ([rule.replace("<pk>", pk) for rule in with_pk] if pk else [])
        for url in urls:
            response = client.get(url)
            if response.status_code != 200 or "text/html" not in response.content_type:
                continue
            forms, _ = parse_page(url, response.get_data(as_text=True))
            for form in forms:
                path = urllib.parse.urlsplit(form.action).path
                if SKIPPED_FORM_ACTIONS.search(path) or {n for n, _, _ in form.fields} <= {"csrf_token", "delete"}:
                    continue  # FAB's delete confirmation (a script posts it to the row's delete URL)
                key = (re.sub(r"/\d+", "/<id>", path), tuple(sorted(n for n, _, _ in form.fields)))
                if key in seen:
                    continue
                seen.add(key)
                found.append((type(view).__name__, form))
    return found


def _csrf(client, form: HtmlForm, page_fields) -> bytes:
    return next((v.encode() for n, v, _ in page_fields if n == "csrf_token"), b"")


def sweep_forms(app, client, tally: Tally, role: str, shard: tuple[int, int] = (0, 1)) -> int:
    """Each payload class in each field of each form this user can open; returns the
    number of forms."""
    forms = discover_forms(app, client, shard)
    # A view's add and edit forms share their fields' rules: each field of a view is swept
    # once, in the edit form (an existing row: more paths) or else where it appears.
    forms.sort(key=lambda item: "/edit/" not in item[1].action)
    swept = set()
    for view_name, form in forms:
        base = [(n, (v or "").encode(), k) for n, v, k in form.fields if v is not None]
        targets = [(n, k) for n, v, k in form.fields if n != "csrf_token" and k not in ("hidden", "file", "submit")]
        targets += [(n, k) for n, v, k in form.fields if k == "hidden" and n != "csrf_token"]
        for name, kind in dict.fromkeys(targets):
            if (view_name, name) in swept:
                continue
            swept.add((view_name, name))
            for payload_class, payload in FORM_PAYLOADS.items():
                fields = [(n, v, k) for n, v, k in base if n != name] + [(name, payload, kind)]
                body, content_type = encode_form(fields, form.multipart)
                response = client.post(form.action, data=body, content_type=content_type)
                tally.record(payload_class, f"{role} POST {form.action} {name}={payload!r} ({view_name})", response)
    return len(forms)


def sweep_lists_and_actions(app, client, tally: Tally, role: str, shard: tuple[int, int] = (0, 1)) -> None:
    """Unknown orderings, bad filter values and unknown actions on every model view's list,
    bad search text on every relation picker."""
    for view in app.appbuilder.baseviews:
        if not in_shard(app, view, shard):
            continue
        pages, _ = view_pages(app, view, client)
        list_url = next((p for p in pages if p.endswith("/list/")), None)
        if list_url is None:
            continue
        name = type(view).__name__
        listed = client.get(list_url, query_string={f"_oc_{name}": "no_such_column"})
        tally.record("unknown_order_column", f"{role} GET {list_url} _oc_=no_such_column", listed)
        if listed.status_code in (302, 403):
            continue  # a page this user may not open: the permission answered first; nothing more here
        for column in ORDER_PAYLOADS[1:]:
            response = client.get(list_url, query_string={f"_oc_{name}": column, f"_od_{name}": "asc"})
            tally.record("unknown_order_column", f"{role} GET {list_url} _oc_={column!r}", response)
        for column in list(getattr(view, "search_columns", None) or [])[:4]:
            for payload_class, payload in SEARCH_PAYLOADS.items():
                query = urllib.parse.urlencode([(f"_flt_0_{column}".encode(), payload)])
                response = client.get(f"{list_url}?{query}")
                tally.record(payload_class, f"{role} GET {list_url} _flt_0_{column}={payload!r}", response)
        base = list_url.rsplit("/list/", 1)[0]
        if "action_post" in getattr(view, "_urls", ()) or any(
                r.endpoint == f"{view.endpoint}.action_post" for r in app.url_map.iter_rules()):
            token = _page_csrf(client, list_url)
            for action in ACTION_PAYLOADS:
                body = urllib.parse.urlencode([(b"action", action.encode()), (b"rowid", b"1"),
                                               (b"csrf_token", token)]).encode()
                response = client.post(f"{base}/action_post", data=body,
                                       content_type="application/x-www-form-urlencoded")
                tally.record("unknown_action", f"{role} POST {base}/action_post action={action!r}", response)
            for action_name in list(getattr(view, "actions", {}) or {}):
                body = urllib.parse.urlencode([(b"action", action_name.encode()), (b"rowid", str(2**63).encode()),
                                               (b"rowid", b"%d"), (b"csrf_token", token)]).encode()
                response = client.post(f"{base}/action_post", data=body,
                                       content_type="application/x-www-form-urlencoded")
                tally.record("id_beyond_int64", f"{role} POST {base}/action_post {action_name} rowid=2**63", response)
        for (form_name, column) in list(getattr(view, "_pickers", {}) or {}):
            for payload_class, payload in SEARCH_PAYLOADS.items():
                query = urllib.parse.urlencode([(b"form", form_name.encode()), (b"q", payload), (b"page", b"1")])
                response = client.get(f"{base}/picker/{column}?{query}")
                tally.record(payload_class, f"{role} GET {base}/picker/{column} q={payload!r}", response)


def _page_csrf(client, url: str) -> bytes:
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    return match.group(1).encode() if match else b""


# --------------------------------------------------------------------------- the API


@dataclass
class Operation:
    method: str
    path: str  # with {pk}
    body_properties: dict  # name -> schema (with "type"/"enum"/"format")
    takes_q: bool


def api_operations(app, document) -> list[Operation]:
    """The operations of the OpenAPI ``document`` on the model resources (``ModelRestApi``)."""
    resources = {getattr(v, "resource_name", None) for v in app.appbuilder.baseviews
                 if hasattr(v, "datamodel") and getattr(v, "resource_name", None)}
    schemas = document.get("components", {}).get("schemas", {})
    operations = []
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/") or _resource(path) not in resources:
            continue
        for method, spec in item.items():
            if method not in ("get", "post", "put", "delete"):
                continue
            properties = {}
            content = (spec.get("requestBody") or {}).get("content", {}).get("application/json", {})
            ref = (content.get("schema") or {}).get("$ref")
            if ref:
                properties = schemas[ref.rsplit("/", 1)[1]].get("properties", {})
            takes_q = any(p.get("name") == "q" for p in spec.get("parameters", []) if isinstance(p, dict)) or (
                any("$ref" in p for p in spec.get("parameters", []))
                and method == "get")
            operations.append(Operation(method.upper(), path, properties, takes_q))
    return operations


def _resource(path: str) -> str:
    return path.split("/")[3]


def sweep_api(app, client, document, headers, tally: Tally, role: str) -> int:
    """Each payload class to each operation of ``document`` (``/api/v1/_openapi``): bodies,
    body properties, ``q`` and ``pk``."""
    operations = api_operations(app, document)
    json_headers = {**headers, "Content-Type": "application/json"}
    pks = {}
    for operation in operations:
        resource = _resource(operation.path)
        if resource not in pks:
            rows = client.get(f"/api/v1/{resource}/", headers=headers).get_json() or {}
            ids = [row.get("id") for row in rows.get("result", []) if isinstance(row, dict)] or [None]
            pks[resource] = str(ids[0] or 1)
    # PUT first: a property its schema shares with POST is swept once, on an existing row.
    operations.sort(key=lambda operation: operation.method != "PUT")
    swept = set()
    for operation in operations:
        resource = _resource(operation.path)
        path = operation.path.replace("{pk}", pks[resource])
        label = f"{role} {operation.method} {operation.path}"
        if operation.method in ("POST", "PUT"):
            for payload_class, body in JSON_BODY_PAYLOADS.items():
                response = client.open(path, method=operation.method, data=body, headers=json_headers)
                tally.record(payload_class, f"{label} body={body[:40]!r}", response)
            for name in operation.body_properties:
                if (resource, name) in swept:
                    continue
                swept.add((resource, name))
                for payload_class, value in JSON_VALUE_PAYLOADS.items():
                    body = ("{" + json.dumps(name) + ": " + value + "}").encode()
                    response = client.open(path, method=operation.method, data=body, headers=json_headers)
                    tally.record(payload_class, f"{label} {name}={value}", response)
        if "{pk}" in operation.path and operation.method != "POST":
            for payload_class, pk in PK_PAYLOADS.items():
                response = client.open(operation.path.replace("{pk}", pk), method=operation.method,
                                       data=b"{}" if operation.method == "PUT" else None, headers=json_headers)
                tally.record(payload_class, f"{label} pk={pk}", response)
        if operation.method == "GET":
            column = next(iter(app_search_columns(app, resource)), "id")
            order = next(iter(app_order_columns(app, resource)), "id")
            for payload_class, q in RISON_PAYLOADS.items():
                q = q.replace("{column}", column).replace("{order}", order)
                query = urllib.parse.urlencode({"q": q})
                response = client.get(f"{path}?{query}", headers=headers)
                tally.record(payload_class, f"{label} q={q[:60]!r}", response)
            response = client.get(f"{path}?q=%FF%FE", headers=headers)
            tally.record("invalid_utf8", f"{label} q=%FF%FE", response)
    return len(operations)


def _api_view(app, resource):
    return next(v for v in app.appbuilder.baseviews if getattr(v, "resource_name", None) == resource)


def app_search_columns(app, resource):
    return list(getattr(_api_view(app, resource), "search_columns", None) or [])


def app_order_columns(app, resource):
    return list(getattr(_api_view(app, resource), "order_columns", None) or [])
