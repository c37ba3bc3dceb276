"""News feeds, an outbound adapter of the media job (services/media.py).

- `model`: feed items, validators, `FeedFailure` and its reason codes (data only);
- `parse`: feed bytes -> items, and a link's canonical form (feedparser; no I/O);
- `fetch`: the conditional GET of one feed through the one HTTP client (functions/http_client.py)
  with the SSRF guard on every redirect hop, a streamed size cap and a wall-clock budget.
"""
