"""Speaker (timbre) encoder: ReDimNet reference-voice embeddings."""

from .redimnet import ReDimNetConfig, ReDimNetSpeakerEncoder, SpeakerAudioError, load_redimnet, write_tiny_redimnet

__all__ = ["ReDimNetConfig", "ReDimNetSpeakerEncoder", "SpeakerAudioError", "load_redimnet", "write_tiny_redimnet"]
