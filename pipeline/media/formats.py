"""File extensions of the audio formats the pipeline writes (stages.audio_encode, stages.waveform)."""

AUDIO_EXTENSIONS = {"mp3": "mp3", "m4a": "m4a", "opus": "opus", "wav": "wav", "flac": "flac"}
