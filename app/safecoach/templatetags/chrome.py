"""The page chrome of base.html as inclusion tags: the head links, the skip link with the header
and its menu, and the footer, each a template in safecoach/templates/safecoach/chrome/.

The chrome is on every page, and most of it (the URLs, the texts, the language options) is the
same for every visitor. The templates mark those parts with `{% fixed %}`: such a part is
rendered once per language, URL configuration and script prefix and then repeated. Only what
belongs to a visitor or a request is rendered each time, outside the `{% fixed %}` parts: which
menu items the user's role gets (and a client's own assignments URL), the CSRF token and the
page's path for the language form. A `{% fixed %}` part must hold nothing of a user or request.

The templates end without a newline: base.html places each tag on a line of its own. The CSRF
token reaches the header's and the footer's forms as Django passes it to every inclusion tag.
"""

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation

register = template.Library()

# Settings the `{% fixed %}` parts depend on; changing one (in tests) renders them afresh.
FIXED_BY = {
    "LANGUAGES",
    "LANGUAGE_CODE",
    "LOCALE_PATHS",
    "USE_I18N",
    "INSTALLED_APPS",
    "ROOT_URLCONF",
    "FORCE_SCRIPT_NAME",
    "STATIC_URL",
    "STORAGES",
}
_settings_version = 0


@receiver(setting_changed)
def _forget_fixed_parts(*, setting, **kwargs):
    global _settings_version
    if setting in FIXED_BY:
        _settings_version += 1


class FixedNode(template.Node):
    """The content, rendered once per key (settings version, language, URL configuration,
    script prefix). The stored HTML is the same whichever thread renders it first."""

    def __init__(self, nodelist):
        self.nodelist = nodelist
        self.rendered = {}

    def render(self, context):
        key = (_settings_version, translation.get_language(), get_urlconf(), get_script_prefix())
        html = self.rendered.get(key)
        if html is None:
            if len(self.rendered) >= 32:  # keys of earlier settings: start afresh
                self.rendered = {}
            html = self.rendered[key] = self.nodelist.render(context)
        return html


@register.tag
def fixed(parser, token):
    """{% fixed %}…{% endfixed %}: markup that depends on nothing of a user or request."""
    nodelist = parser.parse(("endfixed",))
    parser.delete_first_token()
    return FixedNode(nodelist)


@register.inclusion_tag("safecoach/chrome/head.html")
def site_head():
    """The stylesheet and icon links of <head>."""
    return {}


@register.inclusion_tag("safecoach/chrome/header.html", takes_context=True)
def site_header(context):
    """The skip link and the header with the menu for the context's `user`."""
    return {"user": context.get("user")}


@register.inclusion_tag("safecoach/chrome/footer.html", takes_context=True)
def site_footer(context):
    """The footer: the privacy statement and the language form, back to this page."""
    return {"request": context.get("request")}
