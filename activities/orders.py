"""(skeleton: activities of the order_followup process; being written)"""

from __future__ import annotations

from config import Settings


class OrderActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings
