from django.urls import path

from privacy import views

app_name = "privacy"
urlpatterns = [
    path("", views.statement, name="statement"),
    path("mine/", views.mine, name="mine"),
    path("mine/data/", views.my_data, name="data"),
    path("mine/export/", views.export_data, name="export"),
    path("mine/request/", views.make_request, name="request"),
    path("mine/delete/", views.delete_account, name="delete"),
    path("staff/requests/", views.staff_requests, name="staff_requests"),
    path("staff/requests/<int:pk>/", views.staff_request, name="staff_request"),
]
