"""Outgoing email: the port, message composition, and adapters (SMTP, local outbox)."""
