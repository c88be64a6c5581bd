"""Speaker (timbre) encoder: ReDimNet reference-voice embeddings."""

from .redimnet import (
    ReDimNetConfig,
    ReDimNetSpeakerEncoder,
    SpeakerAudioError,
    load_redimnet,
    short_voice_warning,
    write_tiny_redimnet,
)

__all__ = [
    "ReDimNetConfig",
    "ReDimNetSpeakerEncoder",
    "SpeakerAudioError",
    "load_redimnet",
    "short_voice_warning",
    "write_tiny_redimnet",
]
