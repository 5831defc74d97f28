from django.urls import path

from coaching import views

app_name = "coaching"
urlpatterns = [
    path("clients/", views.client_list, name="client_list"),
    path("dialogue/", views.my_dialogue, name="my_dialogue"),
    path("dialogue/<int:client_id>/", views.dialogue, name="dialogue"),
    path("dialogue/<int:client_id>/assignments/", views.assignment_list, name="assignment_list"),
    path(
        "dialogue/<int:client_id>/assignments/new/",
        views.assignment_create,
        name="assignment_create",
    ),
    path("assignments/<int:pk>/", views.assignment_detail, name="assignment_detail"),
    path("assignments/<int:pk>/answer/", views.answer, name="answer"),
    path("assignments/<int:pk>/comment/", views.comment, name="comment"),
    path("dialogue/<int:client_id>/notes/", views.notes, name="notes"),
    path("notes/<int:pk>/edit/", views.note_edit, name="note_edit"),
    path("notes/<int:pk>/delete/", views.note_delete, name="note_delete"),
]
