"""Every command answers --help by each route, and the demo runs end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from singerid.commands import COMMANDS, main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
BIN = Path(sys.executable).parent


def _run(*command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)


def test_every_script_is_a_command():
    assert {script.stem for script in SCRIPTS} == set(COMMANDS)


def _importable(names: list[str]) -> dict[str, str]:
    """Of `names`, the top-level modules that `import NAME` finds (name → where), on the path
    a script run as `python scripts/NAME.py` sees apart from scripts/ itself: the standard
    library, site-packages (singerid included), PYTHONPATH. There a script named like one
    comes first on sys.path and hides it from everything the script imports."""
    code = ("import importlib.util, json, sys\n"
            "sys.path = [p for p in sys.path if p not in ('', '.')]  # -c puts the working folder first\n"
            "found = {}\n"
            "for name in json.loads(sys.argv[1]):\n"
            "    spec = importlib.util.find_spec(name)\n"
            "    if spec is not None:\n"
            "        found[name] = spec.origin or ' '.join(spec.submodule_search_locations or ())\n"
            "print(json.dumps(found))\n")
    result = _run(sys.executable, "-c", code, json.dumps(names), cwd=ROOT / "scripts")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_scripts_are_not_named_like_libraries():
    assert SCRIPTS, "no scripts found"
    clashes = _importable([script.stem for script in SCRIPTS])
    assert not clashes, f"scripts named like importable modules (they would shadow them): {clashes}"


def test_library_name_check_finds_clashes():
    """The check above can fail: `evaluate.py` would hide the evaluate library (the reason the
    command is evaluate_model), and so would a script named like a stdlib module or singerid."""
    found = _importable(["evaluate", "datasets", "json", "singerid", "evaluate_model", "reproduce_table"])
    assert set(found) == {"evaluate", "datasets", "json", "singerid"}, found


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help_by_each_route(command):
    # the three routes at once: each mostly waits on its own imports, one core apiece
    routes = [[str(BIN / "singerid"), command], [sys.executable, "-m", "singerid", command],
              [sys.executable, str(ROOT / "scripts" / f"{command}.py")]]
    running = [subprocess.Popen([*route, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for route in routes]
    (entry, entry_error), (module, module_error), (script, script_error) = (
        process.communicate(timeout=600) for process in running)
    assert [process.returncode for process in running] == [0, 0, 0], entry_error + module_error + script_error
    assert entry == module == script and "usage:" in entry


def test_unknown_command_is_refused(capsys):
    assert cli_main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_demo_runs_end_to_end_offline_and_beats_chance(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SINGERID_CACHE": str(tmp_path / "cache")}
    result = _run(sys.executable, "-m", "singerid", "demo", "--output", str(tmp_path / "demo"), "--singers", "4",
                  "--songs", "2", "--seconds", "15", "--strategies", "weighted_sum", "--seed", "0", env=env)
    assert result.returncode == 0, result.stderr
    assert "not available offline" in result.stdout  # no demucs weights here, and it says so
    assert "song_top1" in result.stdout
    report = json.loads((tmp_path / "demo" / "dataset" / "preprocess_report.json").read_text())
    assert report["summary"]["ok"] == 4 * 6 * 2
    test = json.loads((tmp_path / "demo" / "weighted_sum" / "metrics.json").read_text())["test"]
    # 4 singers: chance is 0.25. Measured with seeds 0-2: song top-1 0.5-0.625, segment 0.5-0.625.
    assert test["song_top1"] >= 0.5
    assert test["segment_top1"] >= 0.4
    assert (tmp_path / "demo" / "evaluation" / "confusion_matrix.png").is_file()

    # Its top-1 over the test songs is what predict_songs gives on their files...
    from singerid.prediction import predict_songs

    stems = tmp_path / "demo" / "corpus" / "_stems"
    tests = sorted(song["source"] for song in report["songs"].values() if song["split"] == "test")
    singers = [Path(source).parts[0] for source in tests]
    predictions = predict_songs([stems / source for source in tests], str(tmp_path / "demo" / "weighted_sum"),
                                top_k=4, progress=False, workers=1)
    right = sum(prediction.labels[0] == singer for prediction, singer in zip(predictions, singers))
    assert f"on the {len(tests)} test songs: song top-1 {right / len(tests):.3f} ({right} of {len(tests)})" \
        in result.stdout
    # ...and its example, the first test song, ranks as predict_songs does, marks the true singer, and says
    # right or wrong as the ranking does.
    block = result.stdout.split("the first test song in file order, ")[1].split("\n\n")[0].splitlines()
    assert block[0] == f"{stems / tests[0]} (sung by {singers[0]}):"
    rows = [line.split() for line in block[1:-1]]  # rank, singer, score[, ← the true singer]
    assert [row[1] for row in rows[:3]] == predictions[0].labels[:3]
    assert [row[1] for row in rows if "←" in row] == [singers[0]]
    assert block[-1].split(":")[0].strip() == ("right" if predictions[0].labels[0] == singers[0] else "wrong")
