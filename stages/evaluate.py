"""DVC stage `evaluate` (dvc.yaml runs `python -m stages.evaluate`): pipeline/commands/evaluate.py says what it reads and writes."""
import typer

from pipeline.commands.evaluate import command

if __name__ == "__main__":
    typer.run(command)
