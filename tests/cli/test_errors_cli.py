"""Error catalogue, command line: bad input prints exactly one line on stderr, exits 2,
shows no traceback and leaves no file behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_cli(*args, cwd, timeout=120):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "convwise", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_refused(result, *words):
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _files(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "afile").write_text("a file where a folder should be")
    (tmp_path / "bad.py").write_text("model = [\n")
    (tmp_path / "bad.json").write_text('[{"type": ')
    (tmp_path / "notlist.json").write_text('{"type": "conv"}')
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(64))
    (tmp_path / "empty.npz").write_bytes(b"")
    return tmp_path


CASES = [
    # unwritable output folder (a file stands where the folder should be)
    (("animate", "-o", "afile/x.gif"), ("convwise animate: error:", "afile")),
    (("animate", "-o", "ok.gif", "--frames", "afile/frames"), ("convwise animate: error:", "afile")),
    (("predict", "corrupt.npz", "--output", "afile/p.npy"), ("convwise predict: error:", "corrupt.npz")),
    (("tour", "-o", "afile/tour"), ("convwise tour: error:", "afile")),
    # broken model and weight files
    (("summary", "bad.py"), ("convwise summary: error:", "syntax error", "bad.py")),
    (("summary", "bad.json"), ("convwise summary: error:", "bad.json")),
    (("predict", "corrupt.npz"), ("convwise predict: error: load:", "corrupt.npz")),
    (("predict", "empty.npz"), ("convwise predict: error: load:", "empty.npz")),
    (("predict", "missing.npz"), ("convwise predict: error: load: no such file",)),
    # values argparse must refuse
    (("summary", "lenet5", "--format", "nonsense"), ("--format", "nonsense")),
    (("train", "digits", "--lr", "inf"), ("--lr", "finite")),
    (("train", "digits", "--lr", "nan"), ("--lr", "finite")),
    # huge sizes: answered or refused at once, never a hang
    (("shape", "1000", "-k", "3", "-p", str(10**30)), ("padding must be at most 2**62",)),
    (("shape", "100000000", "-k", "3", "-s", "5"), ("uncovered_cells: would loop over",)),
]


@pytest.mark.parametrize("args, words", CASES, ids=[" ".join(case[0]) for case in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(folder, args, words):
    before = _files(folder)
    result = run_cli(*args, cwd=folder)
    assert_refused(result, *words)
    assert _files(folder) == before
    assert result.stdout == ""


def test_huge_input_size_is_answered_quickly(folder):
    result = run_cli("shape", "100000000", "-k", "3", cwd=folder, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "99999998" in result.stdout.replace(",", "")


def test_sweep_into_an_unwritable_folder_leaves_nothing(folder):
    before = _files(folder)
    result = run_cli("sweep", "kernel", "--quick", "--no-torch", "--repeats", "1", "-o", "afile/sweeps", cwd=folder)
    assert_refused(result, "convwise sweep: error:", "afile")
    assert _files(folder) == before


def test_train_out_into_an_unwritable_folder_leaves_nothing(folder):
    pytest.importorskip("sklearn")
    before = _files(folder)
    result = run_cli("train", "digits", "--epochs", "1", "--limit", "40", "--no-progress", "--out",
                     "afile/w.npz", cwd=folder)
    assert_refused(result, "convwise train: error:", "afile")
    assert _files(folder) == before
