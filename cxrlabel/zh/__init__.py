"""Chinese pipeline: normalise → sections → clauses → cues → dong10 assignment / region templates."""
