"""Stand-in for `comfy_api.latest.ui`: the saved-file records and the preview outputs NAVA Save returns."""

from __future__ import annotations


class SavedResult(dict):
    def __init__(self, filename: str, subfolder: str, type):
        super().__init__(filename=filename, subfolder=subfolder, type=type.value)


class SavedAudios:
    def __init__(self, results: list[SavedResult]):
        self.results = results

    def as_dict(self) -> dict:
        return {"audio": self.results}


class PreviewVideo:
    def __init__(self, values: list[SavedResult]):
        self.values = values

    def as_dict(self) -> dict:
        return {"images": self.values, "animated": (True,)}
