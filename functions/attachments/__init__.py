"""Photos, voice notes and documents citizens send (issue 20). Pure helpers and adapters that
the intake worker's media step (functions/services/attachments.py) uses; nothing here is
imported by a door, so the doors' cold start pays nothing for Pillow or for the downloads."""
