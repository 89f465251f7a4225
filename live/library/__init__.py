"""Library: preset files and schema, keyframe files, the preloaded bank, precompute, image ingestion
and the built-in demo content."""
