"""The page chrome of base.html as inclusion tags: the head links, the skip link with the header
and its menu, and the footer, each a template in safecoach/templates/safecoach/chrome/.

The templates end without a newline: base.html places each tag on a line of its own. The CSRF
token reaches the header's and the footer's forms as Django passes it to every inclusion tag.
"""

from django import template

register = template.Library()


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
