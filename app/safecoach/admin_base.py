"""The one ModelAdmin every model of the staff admin is registered with.

Changelist filters are an allow-list: a query parameter is accepted only when one of the admin's
own `list_filter` entries or its `date_hierarchy` produces it (or it is the exact pair a raw-id
popup sends for a `limit_choices_to`). Everything else, above all any lookup on a content or secret
field (safecoach.admin_protected) through any relation, is refused with HTTP 400 and one sentence,
before any query runs, so the answer carries no count. Sorting (`?o=`) works only on list
columns that do not order by such a field; facet counts are off.

`check()` reports any admin option (list, filter, search, ordering, form or read-only fields) that
names a content or secret field, so `manage.py check` and the test suite catch a mistake at once.
"""

import logging

from django import forms
from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.filters import FieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field
from django.shortcuts import render
from django.utils.translation import gettext as _

from safecoach.admin_protected import (
    ordering_reaches_protected,
    protected_fields,
    reaches_protected,
)

log = logging.getLogger("safecoach.admin")

DATE_HIERARCHY_PARTS = ("year", "month", "day")
SEARCH_PREFIXES = "^=@"


class SafeModelAdmin(admin.ModelAdmin):
    """A ModelAdmin that filters, sorts and searches only on what it shows, never on content."""

    show_facets = admin.ShowFacets.NEVER

    # --- filters: an allow-list --------------------------------------------------------------

    def lookup_allowed(self, lookup, value, request=None):
        allowed = (
            lookup in self.allowed_lookups(request) or (lookup, value) in self._popup_lookups()
        ) and not reaches_protected(self.model, lookup)
        if not allowed:
            user_id = getattr(getattr(request, "user", None), "pk", None)
            log.warning(
                "Refused admin lookup %r on %s for user %s",
                lookup[:100],
                self.model._meta.label,
                user_id,
            )
        return allowed

    def allowed_lookups(self, request) -> frozenset[str]:
        """The query parameters this admin's own filters and date hierarchy produce."""
        cache = getattr(request, "_safecoach_admin_lookups", None) if request else None
        if cache is not None and self in cache:
            return cache[self]
        names = set()
        for item in self.get_list_filter(request):
            names.update(self._filter_spec(item, request).expected_parameters())
        if self.date_hierarchy:
            names.update(f"{self.date_hierarchy}__{part}" for part in DATE_HIERARCHY_PARTS)
        result = frozenset(names)
        if request is not None:
            if cache is None:
                cache = request._safecoach_admin_lookups = {}
            cache[self] = result
        return result

    def _filter_spec(self, item, request):
        """The list filter `item` stands for, built as the changelist builds it (no parameters)."""
        if isinstance(item, type):
            return item(request, {}, self.model, self)
        field, filter_class = item if isinstance(item, (list, tuple)) else (item, None)
        field_path = None
        if not isinstance(field, Field):
            field_path = field
            field = get_fields_from_path(self.model, field_path)[-1]
        filter_class = filter_class or FieldListFilter.create
        return filter_class(field, request, {}, self.model, self, field_path=field_path)

    def _popup_lookups(self):
        """The (parameter, value) pairs raw-id popups send for ForeignKey.limit_choices_to."""
        pairs = set()
        for lookup in self.model._meta.related_fkey_lookups:
            if callable(lookup):
                lookup = lookup()
            pairs.update(url_params_from_lookup_dict(lookup).items())
        return pairs

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except DisallowedModelAdminLookup:
            return refused_filter(request)

    # --- forms: an unknown id is a form error; refused input is logged ------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        attrs = {"admin_user_id": request.user.pk, "__module__": __name__}
        return type(form.__name__, (LoggedRefusalsForm, form), attrs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", ExistingModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    # --- sorting, search and forms never touch content or secrets -----------------------------

    def get_changelist(self, request, **kwargs):
        return SortableOnlyChangeList

    def get_sortable_by(self, request):
        return [
            name
            for name in super().get_sortable_by(request)
            if (path := self._ordering_path(name)) is not None
            and not ordering_reaches_protected(self.model, path)
        ]

    def _ordering_path(self, name):
        """The field path a list column sorts by, or None when it cannot be sorted."""
        if not isinstance(name, str):
            return None
        try:
            return self.model._meta.get_field(name).name
        except FieldDoesNotExist:
            attr = getattr(self, name, None) or getattr(self.model, name, None)
            if isinstance(attr, property):
                attr = attr.fget
            path = getattr(attr, "admin_order_field", None)
            return path if isinstance(path, str) else None

    def get_search_fields(self, request):
        return [
            name
            for name in super().get_search_fields(request)
            if not reaches_protected(self.model, name.lstrip(SEARCH_PREFIXES))
        ]

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *sorted(protected_fields(self.model))]

    # --- configuration check ----------------------------------------------------------------

    def check(self, **kwargs):
        return [*super().check(**kwargs), *self._check_protected()]

    def _named_paths(self):
        """(option, field path) for every field path the admin's options name."""
        for option in ("list_display", "list_display_links", "readonly_fields", "raw_id_fields"):
            for name in getattr(self, option) or ():
                if isinstance(name, str):
                    yield option, name
                    if path := self._ordering_path(name):
                        yield option, path
        for option in ("autocomplete_fields", "list_editable", "sortable_by", "fields"):
            for name in getattr(self, option) or ():
                yield from ((option, n) for n in _flatten(name))
        for _title, options in self.fieldsets or ():
            for name in options.get("fields", ()):
                yield from (("fieldsets", n) for n in _flatten(name))
        for item in self.list_filter:
            path = item[0] if isinstance(item, (list, tuple)) else item
            if isinstance(path, str):
                yield "list_filter", path
        for name in self.search_fields:
            yield "search_fields", name.lstrip(SEARCH_PREFIXES)
        for name in self.ordering or ():
            if isinstance(name, str):
                yield "ordering", name.lstrip("-")
        if self.date_hierarchy:
            yield "date_hierarchy", self.date_hierarchy

    def _check_protected(self):
        errors = []
        for option, path in self._named_paths():
            if ordering_reaches_protected(self.model, path):
                errors.append(
                    checks.Error(
                        f"{option} of the staff admin of {self.model._meta.label} names "
                        f"{path!r}, which reaches dialogue content or a secret.",
                        obj=self.__class__,
                        id="safecoach.E001",
                    )
                )
        return errors


class SortableOnlyChangeList(ChangeList):
    """A changelist that sorts (`?o=<column>`) only by the admin's sortable columns: Django's own
    uses `sortable_by` for the column headers but sorts by any column the query names."""

    def get_ordering_field(self, field_name):
        if field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)


class LoggedRefusalsForm(forms.BaseForm):
    """Logs a refused admin form: the model, the staff member's account id and the names of
    the refused fields, never what was typed."""

    admin_user_id = None

    def full_clean(self):
        super().full_clean()
        if self.is_bound and self._errors:
            log.info(
                "Refused staff admin form for %s by user %s: %s",
                self._meta.model._meta.label,
                self.admin_user_id,
                ", ".join(sorted(self._errors)),
            )


class ExistingModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Every chosen id must name a row of the queryset. An id too large for the database column
    is "not a valid choice" like any other unknown id, never a database error: each id is looked
    up on its own (an exact lookup with an out-of-range integer finds nothing), before the one
    `__in` query Django makes, which some databases reject for such a value."""

    def _check_values(self, value):
        key = self.to_field_name or "pk"
        try:
            values = frozenset(value)
        except TypeError:
            return super()._check_values(value)
        for pk in values:
            try:
                found = self.queryset.filter(**{key: pk}).exists()
            except (ValueError, TypeError):
                break  # not an id at all: Django's own check names it
            if not found:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": pk},
                )
        return super()._check_values(value)


def _flatten(name):
    if isinstance(name, (list, tuple)):
        for inner in name:
            yield from _flatten(inner)
    elif isinstance(name, str):
        yield name


def refused_filter(request):
    """The answer to a refused filter: 400 and one sentence, without any count or result."""
    return render(
        request,
        "accounts/message.html",
        {
            "title": _("This filter is not available"),
            "lines": [
                _(
                    "The staff admin filters only with the filters shown beside the list. "
                    "Go back to the list and choose one of those."
                )
            ],
        },
        status=400,
    )
