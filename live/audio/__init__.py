"""Audio: input and file sources (the callback only copies into a ring buffer) and the analysis
thread that turns blocks into onsets, bands and the beat, published as an AudioState."""
