"""The NAVA Align-then-Fuse MMDiT: model, loader, tiny-file writer."""

from .loader import load_nava_mmdit, write_tiny_mmdit
from .model import NavaMMDiT, SpeakerCondition, parameter_summary

__all__ = ["NavaMMDiT", "SpeakerCondition", "load_nava_mmdit", "parameter_summary", "write_tiny_mmdit"]
