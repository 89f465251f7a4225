"""Beat: the causal beat tracker over the onset function, and the predictive clock the show reads."""
