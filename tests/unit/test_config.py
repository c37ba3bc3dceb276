from pathlib import Path

import pytest

from functions.config import ConfigError, Settings


def test_defaults_run_on_the_embedded_store():
    s = Settings.from_env({})
    assert (s.backend, s.data_dir, s.sla_hours, s.ticket_prefix, s.timezone) == ("local", Path("./data"), 48.0, "KMC", "Asia/Jakarta")


def test_values_are_read_from_the_environment():
    s = Settings.from_env({"KMC_SLA_HOURS": "24", "KMC_TICKET_PREFIX": "kta", "DIGEST_TO": "a@x.id, b@x.id,",
                           "SMTP_PORT": "465"})
    assert s.sla_hours == 24 and s.ticket_prefix == "KTA" and s.digest_to == ("a@x.id", "b@x.id")
    assert s.smtp_port == 465 and s.smtp_starttls is False


@pytest.mark.parametrize("env,name", [
    ({"KMC_BACKEND": "excel"}, "KMC_BACKEND"),
    ({"KMC_BACKEND": "google"}, "KMC_SPREADSHEET_ID"),
    ({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": "x"}, "KMC_CONTACTS_SPREADSHEET_ID"),
    ({"KMC_SLA_HOURS": "dua hari"}, "KMC_SLA_HOURS"),
    ({"KMC_SLA_HOURS": "-1"}, "KMC_SLA_HOURS"),
    ({"KMC_TIMEZONE": "Mars/Olympus"}, "KMC_TIMEZONE"),
    ({"SMTP_PORT": "abc"}, "SMTP_PORT"),
    ({"KMC_TICKET_PREFIX": "K-M"}, "KMC_TICKET_PREFIX"),
])
def test_bad_configuration_fails_fast_naming_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_google_settings_are_typed_fields_not_raw_environment():
    s = Settings.from_env({
        "KMC_SERVICE_ACCOUNT": "kmc-runtime@p.iam.gserviceaccount.com, kmc-jobs@p.iam.gserviceaccount.com",
        "KMC_SHEETS_INDEX_MAX_AGE": "30",
        "KMC_ARCHIVE_SPREADSHEET_2025": " 1AbCarsip2025 ",
        "KMC_ARCHIVE_SPREADSHEET_SALAH": "diabaikan",
        "KMC_DATA_DIR": "/srv/kmc",
    })
    assert s.service_accounts == ("kmc-runtime@p.iam.gserviceaccount.com", "kmc-jobs@p.iam.gserviceaccount.com")
    assert s.sheets_index_max_age == 30.0
    assert dict(s.archive_spreadsheets) == {2025: "1AbCarsip2025"}
    assert s.data_dir_given and not Settings.from_env({}).data_dir_given
    assert not hasattr(s, "extra")


def test_a_bad_index_age_is_refused_in_indonesian():
    with pytest.raises(ConfigError, match="KMC_SHEETS_INDEX_MAX_AGE harus berupa detik"):
        Settings.from_env({"KMC_SHEETS_INDEX_MAX_AGE": "setengah menit"})
