"""DVC stage `tensors` (dvc.yaml runs `python -m stages.tensors`): pipeline/commands/tensors.py says what it reads and writes."""
import typer

from pipeline.commands.tensors import command

if __name__ == "__main__":
    typer.run(command)
