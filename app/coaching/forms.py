from django import forms
from django.utils.translation import gettext_lazy as _

from coaching.models import MESSAGE_MAX_LENGTH, TEXT_MAX_LENGTH, Assignment, Note


def _text_field(label, max_length, rows=4):
    return forms.CharField(
        label=label,
        max_length=max_length,
        strip=True,
        widget=forms.Textarea(attrs={"rows": rows}),
        error_messages={
            "required": _("Write something first."),
            "max_length": _("This is too long: at most %(limit_value)d characters."),
        },
    )


class MessageForm(forms.Form):
    body = _text_field(_("Message"), MESSAGE_MAX_LENGTH)


class AssignmentForm(forms.ModelForm):
    title = forms.CharField(label=_("Title"), max_length=200, strip=True)
    instructions = _text_field(_("Instructions"), TEXT_MAX_LENGTH, rows=6)
    due_date = forms.DateField(
        label=_("Due date (optional)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = Assignment
        fields = ["title", "instructions", "due_date"]


class AnswerForm(forms.Form):
    body = _text_field(_("Your answer"), TEXT_MAX_LENGTH, rows=6)


class CommentForm(forms.Form):
    body = _text_field(_("Comment"), TEXT_MAX_LENGTH)


class NoteForm(forms.ModelForm):
    body = _text_field(_("Private note"), TEXT_MAX_LENGTH, rows=6)

    class Meta:
        model = Note
        fields = ["body"]
