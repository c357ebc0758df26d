"""Every message Atrium shows has a Brazilian Portuguese translation (issue 21).

The messages are what ``pybabel extract`` finds in the code and templates (``babel.cfg``,
the keywords of ``make translations``); the catalogue is
``app/translations/pt_BR/LC_MESSAGES/messages.po``, and the ``.mo`` Flask-Babel reads
must be that ``.po`` compiled (``make translations`` does both).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "app/translations/pt_BR/LC_MESSAGES/messages.po"
KEYWORDS = ("_l", "lazy_gettext", "N_")  # beside pybabel's own (_, gettext, ngettext...)
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")


def _key(message):
    """A message's identity: its English (the singular of a plural), and its context."""
    text = message.id if isinstance(message.id, str) else message.id[0]
    return f"{message.context}|{text}" if message.context else text


def _strings(message):
    return message.string if isinstance(message.string, str) else tuple(message.string)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    args = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location", "-o", str(pot)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    CommandLineInterface().run([*args, str(ROOT)])
    with open(pot, "rb") as handle:
        return {_key(m): m for m in read_po(handle) if m.id}


@pytest.fixture(scope="module")
def catalogue():
    with open(PO, "rb") as handle:
        return {_key(m): m for m in read_po(handle, locale="pt_BR") if m.id}


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(strings) and not message.fuzzy


def test_every_message_has_a_portuguese_translation(extracted, catalogue):
    missing = sorted(k for k in extracted if k not in catalogue or not _translated(catalogue[k]))
    assert not missing, (f"{len(missing)} message(s) without a pt_BR translation (run `make translations`, "
                         f"then translate them in {PO.relative_to(ROOT)}):\n" + "\n".join(missing[:60]))


def test_a_message_found_nowhere_is_not_kept(extracted, catalogue):
    """Translations of text the code no longer shows are dropped, not left to rot."""
    stale = sorted(set(catalogue) - set(extracted))
    assert not stale, "translations of messages no longer in the code:\n" + "\n".join(stale[:60])


def test_translations_keep_every_placeholder(catalogue):
    """``%(name)s`` in English is ``%(name)s`` in Portuguese, or the page fails to render."""
    wrong = []
    for key, message in catalogue.items():
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(PLACEHOLDER.findall(sources[-1]))
        for target in targets:
            if target and sorted(PLACEHOLDER.findall(target)) != wanted:
                wrong.append(f"{key!r} -> {target!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_the_compiled_catalogue_is_the_po_compiled():
    with open(PO, "rb") as handle:
        source = {_key(m): _strings(m) for m in read_po(handle, locale="pt_BR") if m.id and _translated(m)}
    with open(PO.with_suffix(".mo"), "rb") as handle:
        compiled = {_key(m): _strings(m) for m in read_mo(handle) if m.id}
    assert compiled == source, "app/translations/pt_BR/LC_MESSAGES/messages.mo is stale: run `make translations`"
