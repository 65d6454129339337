"""dvc.yaml lists what each stage really runs and reads, derived from a real run of every stage.

Each stage runs through tests/stage_trace.py on four real clips of the demo corpus with the
default extractors (Whisper base, MiniLM, openSMILE, OpenCV) and a tiny model, exactly as DVC runs
it; the project files it imported and the params keys it read must be listed in its dvc.yaml
entry, or DVC would leave an old result standing after a change.
"""
from __future__ import annotations

import ast
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "raw" / "demo"
STAGES = ("transcribe", "features", "tensors", "train", "evaluate")
# Imported only on a path the traced run does not take: the text encoder, when train.finetune_text loads it.
UNTRACED = {"train": ["pipeline/features"]}


def stage_entries() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def covered(name: str, listed: list[str], separator: str) -> bool:
    return any(name == entry or name.startswith(entry + separator) for entry in listed)


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, dict]:
    """Every stage run in turn on a 4-clip project (train 2, valid 1, test 1): what each used."""
    project = tmp_path_factory.mktemp("project")
    rows = list(csv.DictReader(open(DEMO / "label.csv", newline="")))
    wanted = {"train": 2, "valid": 1, "test": 1}
    kept = []
    for row in rows:
        if wanted.get(row["mode"], 0):
            wanted[row["mode"]] -= 1
            kept.append(row)
            (project / "raw" / row["video_id"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(DEMO / row["video_id"] / f"{row['clip_id']}.mp4", project / "raw" / row["video_id"])
    with open(project / "raw" / "label.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["path"] = "raw"
    params["model"].update(hidden=16, layers=1, heads=2, factor_layers=1)
    params["train"].update(seeds=[3], epochs=1, batch_size=2, device="cpu")
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    found = {}
    for stage in STAGES:
        command = stage_entries()[stage]["cmd"].split()
        assert command[:3] == ["python", "-m", f"stages.{stage}"], command  # what the trace runs too
        trace = project / f"{stage}.json"
        result = subprocess.run([sys.executable, str(ROOT / "tests" / "stage_trace.py"), f"stages.{stage}", str(trace),
                                 *command[3:]], cwd=project, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        found[stage] = json.loads(trace.read_text())
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_lists_every_project_file_the_stage_runs(traces, stage):
    deps = stage_entries()[stage]["deps"]
    missing = [f for f in traces[stage]["files"] if not covered(f, deps, "/")]
    assert not missing, f"dvc.yaml stage {stage} runs these but does not list them: {missing}"
    assert f"stages/{stage}.py" in traces[stage]["files"]


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_lists_every_param_the_stage_reads(traces, stage):
    listed = stage_entries()[stage]["params"]
    read = [key for key in traces[stage]["params"] if "." in key]  # "section.key"; a bare name is the section's lookup
    missing = [key for key in read if not covered(key, listed, ".")]
    assert not missing, f"dvc.yaml stage {stage} reads these params but does not list them: {missing}"
    unused = [entry for entry in listed if not any(covered(key, [entry], ".") for key in read)]
    assert not unused, f"dvc.yaml stage {stage} lists params it never reads: {unused}"


def test_extraction_and_the_store_do_not_depend_on_model_or_training_code():
    for stage in ("transcribe", "features", "tensors"):
        code = [d for d in stage_entries()[stage]["deps"] if d.startswith(("pipeline/", "stages/"))]
        assert not [d for d in code if d.startswith("pipeline/model") or d in ("pipeline/train.py", "pipeline/evaluate.py")], stage


@pytest.mark.parametrize("stage", STAGES)
def test_dvc_yaml_lists_no_project_file_the_stage_does_not_run(traces, stage):
    # A file listed but never imported reruns the stage for nothing; a folder must hold one it imports.
    code = [d for d in stage_entries()[stage]["deps"] if d.startswith(("pipeline/", "stages/")) and not covered(d, UNTRACED.get(stage, []), "/")]
    unused = [d for d in code if not any(covered(f, [d], "/") for f in traces[stage]["files"])]
    assert not unused, f"dvc.yaml stage {stage} lists these but never imports them: {unused}"


def imports_by_name(tree: ast.AST) -> list[int]:
    """Lines that import a module named at run time: importlib.import_module or __import__ of a
    non-literal, which neither a reader nor this test can follow."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and not (node.args and isinstance(node.args[0], ast.Constant)):
            lines.append(node.lineno)
    return lines


def test_no_module_is_imported_by_name_at_run_time():
    sources = [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "stages").rglob("*.py")]
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in sources for line in imports_by_name(ast.parse(p.read_text()))]
    assert not offenders, f"imported by a name made at run time: {offenders}"


def imported_names(tree: ast.AST) -> list[tuple[str, int]]:
    """(module, line) of every absolute import, and of every import_module / __import__ of a literal."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.module or "", node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "__import__"):
                found.append((str(node.args[0].value), node.lineno))
    return found


def test_the_library_never_imports_its_stages():
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in (ROOT / "pipeline").rglob("*.py")
                 for module, line in imported_names(ast.parse(p.read_text())) if module.split(".")[0] == "stages"]
    assert not offenders
