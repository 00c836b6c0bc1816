"""(skeleton: the case library KB-1; being written)"""

from __future__ import annotations

from config import Settings


class LibraryActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings
