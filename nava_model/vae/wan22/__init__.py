"""The Wan2.2 video VAE: 4x16x16 compression of RGB video to 48 latent channels."""
