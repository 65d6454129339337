"""DVC stage `transcribe` (dvc.yaml runs `python -m stages.transcribe`): pipeline/commands/transcribe.py says what it reads and writes."""
import typer

from pipeline.commands.transcribe import command

if __name__ == "__main__":
    typer.run(command)
