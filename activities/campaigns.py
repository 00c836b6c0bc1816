"""(skeleton: activities of the value_push process; being written)"""

from __future__ import annotations

from config import Settings


class CampaignActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings
