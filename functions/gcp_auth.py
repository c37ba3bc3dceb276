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


class LazyRestClient:
    """One way for our REST adapters to build their `HttpClient` on first use, so an import or a
    door that never calls the API costs no credentials. A subclass sets `_http` and
    `_session_factory` in its constructor and names its timeouts and retries in `HTTP_OPTIONS`."""

    HTTP_OPTIONS: dict = {}
    _http = None
    _session_factory = None

    @property
    def http(self):
        if self._http is None:
            from .http_client import HttpClient

            self._http = HttpClient(session=self._session_factory(), **self.HTTP_OPTIONS)
        return self._http
