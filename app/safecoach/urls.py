from django.urls import include, path

from safecoach import metrics, views
from safecoach.admin_site import admin_site

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("account/", include("accounts.urls")),
    path("organisation/", include("organisations.urls")),
    path("privacy/", include("privacy.urls")),
    path("", include("coaching.urls")),
    path("admin/", admin_site.urls),
]
