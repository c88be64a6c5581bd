"""Stand-in for `comfy.patcher_extension`: the callback names a ModelPatcher runs."""


class CallbacksMP:
    ON_DETACH = "on_detach_after"
