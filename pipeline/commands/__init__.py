"""Every console command, one module each: `pipeline <command>` (pipeline/cli.py) and the DVC stages
(stages/<name>.py run `command` of the module of the same name). All console output is here; the
library returns values and raises."""
