"""Stand-in for `comfy.utils.ProgressBar` and the hook the server installs."""

from __future__ import annotations

PROGRESS_BAR_HOOK = None


class ProgressBar:
    def __init__(self, total, node_id=None):
        self.total = total
        self.current = 0
        self.hook = PROGRESS_BAR_HOOK

    def update_absolute(self, value, total=None, preview=None):
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        if self.hook is not None:
            self.hook(self.current, self.total, preview)
