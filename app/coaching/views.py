"""The dialogue, assignments and private notes.

Every object is fetched through a `for_user` queryset; whatever is outside the user's scope,
or a page not meant for the user's role, answers 404.
"""

from functools import lru_cache, wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role, User
from coaching.forms import AnswerForm, AssignmentForm, CommentForm, MessageForm, NoteForm
from coaching.models import Answer, Assignment, Comment, Message, Note
from coaching.notifications import notify
from privacy.access_log import log_dossier_view
from privacy.models import AccessKind


def roles_required(*roles):
    """Login first; then a user whose role is not in `roles` gets a 404."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if request.user.role not in roles:
                raise Http404
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


coach_or_client = roles_required(Role.COACH, Role.CLIENT)
coach_only = roles_required(Role.COACH)
client_only = roles_required(Role.CLIENT)


def _get_client_for_user(user, client_id):
    """The client whose dialogue `user` may open: the client themself, or their current coach.

    A client may open only their own: that is the signed-in user (active, or they could not be
    signed in), so no query is needed; `User.objects.for_user` scoped to active clients would
    find the same one row.
    """
    if user.is_client:
        if user.pk != client_id or not user.is_active:
            raise Http404
        return user
    scoped = User.objects.for_user(user).filter(role=Role.CLIENT, is_active=True)
    return get_object_or_404(scoped, pk=client_id)


def _get_assignment_for_user(user, pk):
    scoped = Assignment.objects.for_user(user).select_related("coach", "client")
    return get_object_or_404(scoped, pk=pk)


def _pair_rows(queryset, user, client):
    """Rows of a client's dialogue as `user` sees them: a coach only their own pair."""
    rows = queryset.for_user(user).filter(client=client)
    return rows.filter(coach=user) if user.is_coach else rows


class _Page:
    """What the dialogue template needs of a page: its rows and the links to its neighbours."""

    def __init__(self, number, object_list, has_next):
        self.number = number
        self.object_list = object_list
        self.has_next = has_next
        self.has_previous = number > 1
        self.next_page_number = number + 1
        self.previous_page_number = number - 1


def _newest_first_page(rows, number, per_page):
    """Page `number` of `rows`, like `Paginator.get_page` but without counting all rows.

    One query fetches the page and one row more, which tells whether an older page exists. As
    with `get_page`, a number that is not an integer answers the first page and one outside the
    pages (below 1, past the last) the last page; only those rare cases count the rows.
    """
    try:
        number = int(number) if number is not None else 1
    except (TypeError, ValueError):
        number = 1
    if 1 <= number <= _MAX_PAGE_NUMBER:
        start = (number - 1) * per_page
        fetched = list(rows[start : start + per_page + 1])
        if fetched or number == 1:
            return _Page(number, fetched[:per_page], len(fetched) > per_page)
    page = Paginator(rows, per_page).get_page(number)
    return _Page(page.number, list(page.object_list), page.has_next())


_MAX_PAGE_NUMBER = 10**9  # beyond any dialogue: such numbers take the counting path


# One message of the dialogue, with the whitespace a template loop would give it. Built here
# rather than in the template: at 30 messages a page, the template's work per variable would be
# the largest part of rendering the page. format_html_join escapes every value that is not
# already safe HTML.
MESSAGE_ITEM = (
    '\n  <li class="message{}">\n'
    '    <p class="meta">{} · <time datetime="{}">{}</time>{}{}</p>\n'
    '    <p class="body">{}</p>\n'
    "  </li>\n"
)


def _message_list(rows, user, unread_ids):
    """The dialogue's rows as list items (MESSAGE_ITEM) in the order of `rows`, as one piece
    of safe HTML; empty without rows."""
    tz, language = timezone.get_current_timezone(), translation.get_language()
    new = format_html(" · <strong>{}</strong>", _("new"))
    read = {True: format_html(" · {}", _("read")), False: format_html(" · {}", _("not read yet"))}
    mine_class, nothing = SafeString(" mine"), SafeString("")  # safe: nothing to escape
    senders = {}  # sender id -> escaped name: a dialogue has two senders

    def items():
        for row in rows:
            sender_id = row["sender_id"]
            sender = senders.get(sender_id)
            if sender is None:
                sender = senders[sender_id] = escape(row["sender_name"])
            mine = sender_id == user.pk
            sent_iso, sent = _sent_labels(row["created_at"], tz, language)
            yield (
                mine_class if mine else nothing,
                sender,
                sent_iso,
                sent,
                new if row["pk"] in unread_ids else nothing,
                read[row["read_at"] is not None] if mine else nothing,
                row["body"],
            )

    return format_html_join("", MESSAGE_ITEM, items())


@lru_cache(maxsize=4096)
def _sent_labels(sent, tz, language):
    """A message's time as the template's `date:'c'` and `date:"SHORT_DATETIME_FORMAT"` give it
    in time zone `tz` and the active `language` (part of the key: the format depends on it),
    escaped. Cached, as each visit shows mostly the same messages: formatting costs more than
    the rest of a row."""
    local = timezone.localtime(sent, tz)
    return escape(local.isoformat()), escape(formats.date_format(local, "SHORT_DATETIME_FORMAT"))


@require_GET
@coach_only
def client_list(request):
    coach = request.user
    unread = (
        Message.objects.filter(client=OuterRef("pk"), coach=coach, read_at__isnull=True)
        .exclude(sender=coach)
        .order_by()
        .values("client")
        .annotate(n=Count("id"))
        .values("n")
    )
    last = (
        Message.objects.filter(client=OuterRef("pk"), coach=coach)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    clients = User.objects.clients_of(coach).annotate(
        unread=Coalesce(Subquery(unread), 0), last_message_at=Subquery(last)
    )
    return render(request, "coaching/client_list.html", {"clients": clients})


@require_GET
@client_only
def my_dialogue(request):
    return redirect("coaching:dialogue", client_id=request.user.pk)


@coach_or_client
def dialogue(request, client_id):
    user = request.user
    client = _get_client_for_user(user, client_id)
    log_dossier_view(user, client, AccessKind.DIALOGUE, request.session)
    coach_id = user.pk if user.is_coach else client.coach_id  # the page needs no coach row
    form = MessageForm(request.POST or None)
    if request.method == "POST":
        if coach_id is None:
            form.add_error(
                None,
                ValidationError(
                    _("You have no coach yet, so there is nobody to send this to."),
                    code="no_coach",
                ),
            )
        elif form.is_valid():
            Message.objects.create(
                coach_id=coach_id, client=client, sender=user, body=form.cleaned_data["body"]
            )
            notify(client if user.is_coach else client.coach, "message")
            messages.success(request, _("Your message has been sent."))
            return redirect("coaching:dialogue", client_id=client.pk)

    page = _newest_first_page(
        _pair_rows(Message.objects, user, client).values(
            "pk", "sender_id", "body", "created_at", "read_at", sender_name=F("sender__full_name")
        ),
        request.GET.get("page"),
        settings.DIALOGUE_PAGE_SIZE,
    )
    unread_ids = [
        row["pk"]
        for row in page.object_list
        if row["read_at"] is None and row["sender_id"] != user.pk
    ]
    if unread_ids:
        Message.objects.filter(pk__in=unread_ids).update(read_at=timezone.now())
    context = {
        "client": client,
        "has_coach": coach_id is not None,
        "page": page,
        "shown": _message_list(reversed(page.object_list), user, set(unread_ids)),
        "form": form,
    }
    return render(request, "coaching/dialogue.html", context)


@require_GET
@coach_or_client
def assignment_list(request, client_id):
    user = request.user
    client = _get_client_for_user(user, client_id)
    log_dossier_view(user, client, AccessKind.ASSIGNMENTS, request.session)
    rows = _pair_rows(Assignment.objects, user, client).select_related("answer", "coach")
    return render(request, "coaching/assignment_list.html", {"client": client, "assignments": rows})


@coach_only
def assignment_create(request, client_id):
    client = _get_client_for_user(request.user, client_id)
    form = AssignmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        assignment = form.save(commit=False)
        assignment.coach = request.user
        assignment.client = client
        assignment.save()
        notify(client, "assignment")
        messages.success(request, _("The assignment has been given."))
        return redirect("coaching:assignment_detail", pk=assignment.pk)
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("New assignment for %(name)s") % {"name": client.full_name},
            "submit_label": _("Give assignment"),
            "cancel_url": reverse("coaching:assignment_list", args=[client.pk]),
        },
    )


def _answer_is_open(user, assignment):
    """A client answers only assignments of their current coach."""
    return user.is_client and assignment.coach_id == user.coach_id


def _render_assignment(request, assignment, answer_form=None, comment_form=None, status=200):
    user = request.user
    answer = Answer.objects.for_user(user).filter(assignment=assignment).first()
    if _answer_is_open(user, assignment) and answer_form is None:
        answer_form = AnswerForm(initial={"body": answer.body if answer else ""})
    if user.is_coach and comment_form is None:
        comment_form = CommentForm()
    context = {
        "assignment": assignment,
        "answer": answer,
        "comments": Comment.objects.for_user(user).filter(assignment=assignment),
        "answer_form": answer_form if _answer_is_open(user, assignment) else None,
        "comment_form": comment_form if user.is_coach else None,
    }
    return render(request, "coaching/assignment_detail.html", context, status=status)


@require_GET
@coach_or_client
def assignment_detail(request, pk):
    assignment = _get_assignment_for_user(request.user, pk)
    log_dossier_view(request.user, assignment.client, AccessKind.ASSIGNMENT, request.session)
    return _render_assignment(request, assignment)


@require_POST
@client_only
def answer(request, pk):
    assignment = _get_assignment_for_user(request.user, pk)
    if not _answer_is_open(request.user, assignment):
        raise Http404
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _render_assignment(request, assignment, answer_form=form, status=400)
    Answer.objects.update_or_create(
        assignment=assignment, defaults={"body": form.cleaned_data["body"]}
    )
    notify(assignment.coach, "answer")
    messages.success(request, _("Your answer has been saved."))
    return redirect("coaching:assignment_detail", pk=assignment.pk)


@require_POST
@coach_only
def comment(request, pk):
    assignment = _get_assignment_for_user(request.user, pk)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _render_assignment(request, assignment, comment_form=form, status=400)
    Comment.objects.create(assignment=assignment, body=form.cleaned_data["body"])
    notify(assignment.client, "comment")
    messages.success(request, _("Your comment has been added."))
    return redirect("coaching:assignment_detail", pk=assignment.pk)


@coach_only
def notes(request, client_id):
    client = _get_client_for_user(request.user, client_id)
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        Note.objects.create(coach=request.user, client=client, body=form.cleaned_data["body"])
        messages.success(request, _("Your note has been saved."))
        return redirect("coaching:notes", client_id=client.pk)
    rows = Note.objects.for_user(request.user).filter(client=client)
    return render(request, "coaching/notes.html", {"client": client, "notes": rows, "form": form})


def _get_note_for_user(user, pk):
    return get_object_or_404(Note.objects.for_user(user).select_related("client"), pk=pk)


@coach_only
def note_edit(request, pk):
    note = _get_note_for_user(request.user, pk)
    form = NoteForm(request.POST or None, instance=note)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your note has been saved."))
        return redirect("coaching:notes", client_id=note.client_id)
    return render(
        request,
        "form.html",
        {
            "form": form,
            "title": _("Edit private note"),
            "submit_label": _("Save"),
            "cancel_url": reverse("coaching:notes", args=[note.client_id]),
        },
    )


@coach_only
def note_delete(request, pk):
    note = _get_note_for_user(request.user, pk)
    if request.method == "POST":
        note.delete()
        messages.success(request, _("The note has been deleted."))
        return redirect("coaching:notes", client_id=note.client_id)
    return render(request, "coaching/note_delete.html", {"note": note})
