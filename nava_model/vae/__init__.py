"""The two VAEs: `wan22` (video, Wan2.2) and `ltx_audio` (audio, LTX-2, with its vocoders)."""
