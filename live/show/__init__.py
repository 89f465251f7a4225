"""Show: the tick that composes every part, the frame driver, the live runner and the offline render."""
