"""Outgoing messages to citizens: WhatsApp Cloud API / Messenger Send API, or a local outbox."""
