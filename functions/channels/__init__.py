"""Channels: wire formats of the doors citizens and KMC staff use, turned into intake calls."""
