"""Encrypt authenticator keys stored in plain text before field encryption existed."""

from django.db import migrations


def encrypt_existing(apps, schema_editor):
    from accounts import field_crypto

    TwoFactor = apps.get_model("accounts", "TwoFactor")
    for row in TwoFactor.objects.exclude(totp_secret="").only("pk", "user_id", "totp_secret"):
        if not field_crypto.is_encrypted(row.totp_secret):
            row.totp_secret = field_crypto.encrypt(row.totp_secret, f"totp:{row.user_id}")
            row.save(update_fields=["totp_secret"])


def decrypt_existing(apps, schema_editor):
    from accounts import field_crypto

    TwoFactor = apps.get_model("accounts", "TwoFactor")
    for row in TwoFactor.objects.exclude(totp_secret="").only("pk", "user_id", "totp_secret"):
        if field_crypto.is_encrypted(row.totp_secret):
            row.totp_secret = field_crypto.decrypt(row.totp_secret, f"totp:{row.user_id}")
            row.save(update_fields=["totp_secret"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_two_factor_recorded_phone_encrypted_key")]

    operations = [migrations.RunPython(encrypt_existing, decrypt_existing)]
