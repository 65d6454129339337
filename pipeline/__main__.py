"""`python -m pipeline` is the `pipeline` command."""
from .cli import app

app(prog_name="pipeline")
