"""The command table: every control command the show understands, declared once."""

from __future__ import annotations

# name -> short description; the control module validates arguments for each.
COMMANDS: dict[str, str] = {
    "preset": "switch to a preset by name",
    "param": "set a preset parameter (key, value)",
    "blackout": "output black (1) or normal (0)",
    "freeze": "hold the current frame (1) or run (0)",
    "hold": "hold the traversal on the current keyframe (1) or move (0)",
    "jump": "jump to keyframe index now",
    "drop": "jump to keyframe index on the next downbeat",
    "tap": "tap tempo",
    "bpm": "set tempo manually",
    "nudge": "shift beat phase by a fraction of a beat",
    "resync": "this moment is the downbeat",
    "lock": "lock (1) or unlock (0) the tempo",
    "shader_param": "set a shader uniform (name, value)",
}
