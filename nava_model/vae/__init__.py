"""Video (Wan2.2) and audio (LTX-2) VAEs."""

from nava_model.vae.ltx_audio.model import LtxAudioVAE, audio_latent_length, load_ltx_audio_vae, write_tiny_ltx_audio_vae
from nava_model.vae.wan22.model import VideoSizeError, Wan22VAE, check_video_size, load_wan22_vae, write_tiny_wan22_vae
from nava_model.vae.wan22.tiling import Tiling
