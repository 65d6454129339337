"""`python -m pipeline` is the `pipeline` command (torchrun relaunches training this way)."""
from .cli import app

app(prog_name="pipeline")
