"""The LTX-2 audio VAE and its vocoders: NAVA's audio latent tokens <-> stereo waveform."""
