from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def statement(request):
    """The privacy statement: public, versioned in its template."""
    return render(request, "privacy/statement.html")
