"""The page chrome of base.html (head links, skip link, header with the menu, footer) as tags.

Rendered on every page, so built in Python from pieces computed once per process for each
language, URL configuration and script prefix: the URLs (`reverse`, `static`), the translated
texts, the language options. They depend on no request and no user. Per request only what does
is added: which menu items the user's role gets (and a client's own assignments URL), the CSRF
token (Django's own `csrf_token` tag) and the page's path for the language form. Every value is
escaped as the `url`, `static`, `translate` tags and `{{ }}` do. The output is exactly what the
former template markup gave (safecoach/tests/test_chrome.py).
"""

from functools import lru_cache

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

register = template.Library()

HEAD = (
    '<link rel="stylesheet" href="{css}">\n  <link rel="icon" href="{icon}" type="image/svg+xml">'
)
HEADER = (
    '<a class="skip" href="#main">{skip}</a>\n'
    '  <header class="site">\n'
    '    <a class="brand" href="{home}">safecoach</a>\n'
    '    <nav aria-label="{main}">\n'
    "      <ul>\n"
    "      "
)
HEADER_END = "\n      </ul>\n    </nav>\n  </header>"
NAV_ANONYMOUS = '\n        <li><a href="{login}">{sign_in}</a></li>\n      '
NAV_MANAGER = '<li><a href="{people}">{people_label}</a></li>'
NAV_COACH = '<li><a href="{clients}">{clients_label}</a></li>'
NAV_CLIENT = (
    '\n          <li><a href="{dialogue}">{dialogue_label}</a></li>\n          <li><a href="'
)
NAV_CLIENT_END = '">{assignments_label}</a></li>\n        '
NAV_STAFF = (
    '<li><a href="{admin}">{admin_label}</a></li>'
    '<li><a href="{staff_requests}">{staff_requests_label}</a></li>'
)
NAV_ACCOUNT = (
    '\n        <li><a href="{profile}">{profile_label}</a></li>\n'
    '        <li><a href="{mine}">{mine_label}</a></li>\n'
    '        <li><form method="post" action="{logout}">'
)
NAV_ACCOUNT_END = '<button type="submit" class="link">{sign_out}</button></form></li>\n      '
FOOTER = (
    '<footer class="site">\n'
    '    <a href="{statement}">{privacy}</a>\n'
    '    <form method="post" action="{set_language}" class="language">\n'
    "      "
)
FOOTER_NEXT = '\n      <input name="next" type="hidden" value="'
FOOTER_END = (
    '">\n'
    '      <label for="language">{language}</label>\n'
    '      <select name="language" id="language">\n'
    "        \n"
    "        {options}\n"
    "      </select>\n"
    '      <button type="submit">{change}</button>\n'
    "    </form>\n"
    "  </footer>"
)
OPTION = '<option value="{code}"{selected}>{name}</option>'


@lru_cache(maxsize=32)
def _pieces(language, urlconf, prefix):
    """The chrome's fixed parts for the active `language`; `urlconf` and `prefix` key `reverse`."""

    def url(name):
        return escape(reverse(name, urlconf=urlconf))

    options = "".join(
        OPTION.format(
            code=escape(code),
            selected=" selected" if code == language else "",
            name=escape(translation.get_language_info(code)["name_local"]),
        )
        for code, _name in settings.LANGUAGES
    )
    return {
        "head": HEAD.format(
            css=escape(static("safecoach/site.css")), icon=escape(static("safecoach/favicon.svg"))
        ),
        "header": HEADER.format(
            skip=escape(_("Skip to content")), home=url("home"), main=escape(_("Main"))
        ),
        "anonymous": NAV_ANONYMOUS.format(
            login=url("accounts:login"), sign_in=escape(_("Sign in"))
        ),
        "manager": NAV_MANAGER.format(
            people=url("organisations:people"), people_label=escape(_("People"))
        ),
        "coach": NAV_COACH.format(
            clients=url("coaching:client_list"), clients_label=escape(_("My clients"))
        ),
        "client": NAV_CLIENT.format(
            dialogue=url("coaching:my_dialogue"), dialogue_label=escape(_("Dialogue"))
        ),
        "client_end": NAV_CLIENT_END.format(assignments_label=escape(_("Assignments"))),
        "staff": NAV_STAFF.format(
            admin=url("admin:index"),
            admin_label=escape(_("Administration")),
            staff_requests=url("privacy:staff_requests"),
            staff_requests_label=escape(_("Privacy requests")),
        ),
        "account": NAV_ACCOUNT.format(
            profile=url("accounts:profile"),
            profile_label=escape(_("My account")),
            mine=url("privacy:mine"),
            mine_label=escape(_("My privacy")),
            logout=url("accounts:logout"),
        ),
        "account_end": NAV_ACCOUNT_END.format(sign_out=escape(_("Sign out"))),
        "footer": FOOTER.format(
            statement=url("privacy:statement"),
            privacy=escape(_("Privacy")),
            set_language=url("set_language"),
        ),
        "footer_end": FOOTER_END.format(
            language=escape(_("Language")), options=options, change=escape(_("Change"))
        ),
    }


@receiver(setting_changed)
def _forget_pieces(*, setting, **kwargs):
    """Tests that change these settings get pieces made afresh (as Django's own caches do)."""
    if setting in {
        "LANGUAGES",
        "LANGUAGE_CODE",
        "LOCALE_PATHS",
        "INSTALLED_APPS",
        "ROOT_URLCONF",
        "FORCE_SCRIPT_NAME",
        "STATIC_URL",
        "STORAGES",
    }:
        _pieces.cache_clear()


def _current_pieces():
    return _pieces(translation.get_language(), get_urlconf(), get_script_prefix())


def _csrf_input(context):
    return template.defaulttags.CsrfTokenNode().render(context)


@register.simple_tag
def site_head():
    """The stylesheet and icon links of <head>."""
    return mark_safe(_current_pieces()["head"])  # noqa: S308 - built from escaped values


@register.simple_tag(takes_context=True)
def site_header(context):
    """The skip link and the header with the menu for the context's `user`."""
    pieces = _current_pieces()
    user = context.get("user")
    parts = [pieces["header"]]
    if getattr(user, "is_authenticated", False):
        parts.append("\n        ")
        if getattr(user, "is_manager", False):
            parts.append(pieces["manager"])
        parts.append("\n        ")
        if getattr(user, "is_coach", False):
            parts.append(pieces["coach"])
        parts.append("\n        ")
        if getattr(user, "is_client", False):
            assignments = reverse("coaching:assignment_list", args=[user.pk])
            parts += [pieces["client"], escape(assignments), pieces["client_end"]]
        parts.append("\n        ")
        if getattr(user, "is_staff", False):
            parts.append(pieces["staff"])
        parts += [pieces["account"], _csrf_input(context), pieces["account_end"]]
    else:
        parts.append(pieces["anonymous"])
    parts.append(HEADER_END)
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped values


@register.simple_tag(takes_context=True)
def site_footer(context):
    """The footer: the privacy statement and the language form, back to this page."""
    pieces = _current_pieces()
    request = context.get("request")
    path = escape(request.get_full_path()) if request is not None else ""
    parts = [pieces["footer"], _csrf_input(context), FOOTER_NEXT, path, pieces["footer_end"]]
    return mark_safe("".join(parts))  # noqa: S308 - built from escaped values
