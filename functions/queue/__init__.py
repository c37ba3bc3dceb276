"""The intake queue between the doors and the workbook (port + local SQLite + Cloud Tasks)."""
