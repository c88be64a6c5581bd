"""Socket types private to the pack: model handles and NAVA conditioning. Everything else is Core's."""

from comfy_api.latest import io

NavaModel = io.Custom("NAVA_MODEL")
VideoVAE = io.Custom("NAVA_VIDEO_VAE")
AudioVAE = io.Custom("NAVA_AUDIO_VAE")
TextEncoder = io.Custom("NAVA_TEXT_ENCODER")
SpeakerEncoder = io.Custom("NAVA_SPEAKER_ENCODER")
NavaConditioning = io.Custom("NAVA_CONDITIONING")

LOADERS_CATEGORY = "NAVA/loaders"
SAMPLING_CATEGORY = "NAVA/sampling"  # prompt and sampler
OUTPUT_CATEGORY = "NAVA/output"  # decode and save
PROMPT_CATEGORY = "NAVA/prompt"  # rewriting and caption building
