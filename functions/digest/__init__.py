"""The daily digest: data (pure) and rendering (text and HTML from the same data)."""
