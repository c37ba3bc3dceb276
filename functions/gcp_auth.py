"""Application Default Credentials for the Google APIs we call over plain REST (Cloud Tasks,
Cloud Storage, Speech-to-Text): an authorised `requests` session, built on first use only."""
from __future__ import annotations


def adc_session(scope: str, unavailable: type[Exception], what: str):
    """An authorised requests session with the runtime service account (metadata server);
    raises `unavailable(...)` naming `what` when there are no credentials."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport.requests import AuthorizedSession

    try:
        credentials, _ = google.auth.default(scopes=[scope])
    except DefaultCredentialsError as e:
        raise unavailable(f"no Google credentials for {what}") from e
    return AuthorizedSession(credentials)
