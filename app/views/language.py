"""Which language a page is in, and the navbar's language menu.

The order (``select_locale``, Flask-Babel's locale selector):

1. the language the person chose from the navbar: saved with their settings
   (``services.preferences``) when signed in, read into the signed session cookie at
   sign-in, so no page pays a statement for it; before sign-in, the cookie alone;
2. for a client user, their client's default (``Client.language``), read with the
   client's other display facts (``viewer_client``);
3. the browser's ``Accept-Language``;
4. English.

"View as" keeps the staff member's language: it shows another user's data and rights,
read by the person debugging them. CLI output stays English (an operator's terminal).
"""

from __future__ import annotations

from flask import Blueprint, abort, g, has_request_context, redirect, request, session
from flask_babel import get_translations
from flask_login import current_user

from app.errors import InvalidInput
from app.extensions import db
from app import i18n
from app.i18n import DEFAULT_LANGUAGE, known_language, languages
from app.services import preferences
from app.views.forms import safe_return, value_words, viewer_client

LANGUAGE_KEY = "language"  # the session's chosen language (kept across sign-out on this browser)

bp = Blueprint("language", __name__)


def select_locale() -> str | None:
    if not has_request_context():
        return None  # jobs and the CLI: the default (English); e-mails and reports force theirs
    chosen = known_language(session.get(LANGUAGE_KEY))
    if chosen:
        return chosen
    client = viewer_client()
    if client is not None and known_language(client.language):
        return known_language(client.language)
    codes = list(languages())
    best = request.accept_languages.best_match([code.replace("_", "-") for code in codes])
    return known_language(best) or DEFAULT_LANGUAGE


def remember_language(user) -> None:
    """At sign-in: the user's saved language into the session cookie; none saved keeps
    what they chose before signing in (if anything)."""
    saved = known_language(preferences.saved_language(db.session, user.id))
    if saved:
        session[LANGUAGE_KEY] = saved


@bp.route("/language", methods=["POST"])
def choose():
    """The navbar's language menu: ``language`` is a code of ``LANGUAGES`` (or empty:
    back to the organisation's or the browser's); saved for a signed-in user."""
    back = safe_return(request.form.get("next"))
    try:
        code = preferences.checked_language(request.form.get("language") or None, languages())
    except InvalidInput as exc:
        abort(422, description=exc.message)
    if current_user.is_authenticated and not g.get("atrium_impersonation"):
        preferences.save_language(db.session, current_user.id, code, languages())
        db.session.commit()
    if code is None:
        session.pop(LANGUAGE_KEY, None)
    else:
        session[LANGUAGE_KEY] = code
    return redirect(back)


def template_gettext(string):
    """Jinja's ``_()`` (newstyle: Jinja applies the ``%`` formatting and escaping)."""
    return get_translations().ugettext(string)


def template_ngettext(singular, plural, num):
    return get_translations().ungettext(singular, plural, num)


def template_pgettext(context, string):
    """``pgettext("button", "Reply")``: the same English, another word in Portuguese."""
    return get_translations().upgettext(context, string)


def template_npgettext(context, singular, plural, num):
    return get_translations().unpgettext(context, singular, plural, num)


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.extensions["babel"].locale_selector = select_locale
    app.jinja_env.install_gettext_callables(template_gettext, template_ngettext, newstyle=True,
                                            pgettext=template_pgettext, npgettext=template_npgettext)
    app.jinja_env.globals["language_menu"] = language_menu
    app.jinja_env.globals["html_lang"] = lambda: i18n.language().replace("_", "-")
    for name in ("money", "number", "percent", "ratio", "date", "month"):  # {{ value | money }}
        app.jinja_env.filters[name] = getattr(i18n, name)
    app.jinja_env.filters["words"] = value_words  # {{ project.status | words }}: "In testing", "Em testes"


def language_menu() -> dict:
    """The navbar's menu: the language in effect and the others, each named in itself."""
    current = i18n.language()
    return {"current": current, "names": {code: spec["name"] for code, spec in languages().items()},
            "flags": {code: spec["flag"] for code, spec in languages().items()}}

