"""Stores: the port (`port.py`) and its adapters (`local.py` SQLite, `google/` Google Sheets)."""
