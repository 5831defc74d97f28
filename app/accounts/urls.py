from django.urls import path

from accounts import email_change, views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.signin_verify, name="signin_verify"),
    path("login/code/resend/", views.signin_resend, name="signin_resend"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("", views.profile, name="profile"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/confirm/", views.confirm_password, name="confirm_password"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/reset/done/", views.password_reset_complete, name="password_reset_complete"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("invitation/resend/<int:pk>/", views.invitation_resend, name="invitation_resend"),
    path("two-step/", views.two_factor, name="two_factor"),
    path("two-step/confirm/", views.confirm_factor, name="confirm_factor"),
    path("two-step/sms/", views.two_factor_sms, name="two_factor_sms"),
    path("two-step/sms/confirm/", views.two_factor_sms_confirm, name="two_factor_sms_confirm"),
    path("two-step/app/", views.two_factor_totp, name="two_factor_totp"),
    path("two-step/backup-codes/", views.backup_codes, name="backup_codes"),
    path("two-step/off/", views.two_factor_disable, name="two_factor_disable"),
    path("people/<int:pk>/two-step/off/", views.two_factor_reset_for, name="two_factor_reset_for"),
    path("organisation/security/", views.organisation_security, name="organisation_security"),
    path("email/", email_change.email_change, name="email_change"),
    path("email/confirm/", email_change.email_change_confirm, name="email_change_confirm"),
    path("email/confirm/<str:token>/", email_change.email_change_link, name="email_change_link"),
]
