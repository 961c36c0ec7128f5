"""`python -m cxrtrain` (and `torchrun -m cxrtrain`): the cxrtrain command line."""

from cxrtrain.cli import app

app()
