"""English pipeline: sections → sentences → parse → canonical graph → mentions → rules → labels."""
