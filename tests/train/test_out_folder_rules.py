"""`scratchcnn train`'s --out: Ctrl-C before the first ``last/`` takes the run back (one line saying so), a
non-empty folder is refused unless --overwrite (which replaces what it holds), and a folder that cannot be written
(read-only, full) is one line naming it and the way out."""
from __future__ import annotations

import errno

import pytest

from scratchcnn.train import TrainConfig, train
from scratchcnn.train.interrupt import RunInterrupted
from run_failure_helpers import Raise, tree

QUIET = dict(progress=False, tensorboard=True, plots=False)


def _cfg(name, data_dir, **kw):
    base = dict(model=name, epochs=2, batch_size=32, limit_train=160, limit_test=50, val_split=0.2,
                eval_batch_size=100, augment=False, seed=0, scheduler="none", data_dir=str(data_dir))
    base.update(kw)
    return TrainConfig(**base)


def _cli_args(name, data_dir, out, *more):
    return ["train", "--model", name, "--epochs", "1", "--limit-train", "160", "--limit-test", "50",
            "--data-dir", str(data_dir), "--out", str(out), "--no-progress", "--no-plots", *more]


def test_ctrl_c_before_the_first_snapshot_removes_what_the_run_wrote(tiny_model_name, data_dir, tmp_path):
    out = tmp_path / "made" / "run"
    with pytest.raises(RunInterrupted, match=f"nothing to resume \\({out} removed\\): run the same command"):
        train(_cfg(tiny_model_name, data_dir), out, extra_callbacks=[Raise(KeyboardInterrupt(), epoch=1)], **QUIET)
    assert list(tmp_path.iterdir()) == []            # no tensorboard/ left to sit beside the next run's events
    given = tmp_path / "given"
    given.mkdir()
    with pytest.raises(RunInterrupted, match=f"nothing to resume \\(nothing kept in {given}\\)"):
        train(_cfg(tiny_model_name, data_dir), given, extra_callbacks=[Raise(KeyboardInterrupt(), epoch=1)],
              **{**QUIET, "tensorboard": False})
    assert list(given.iterdir()) == []


def test_cli_refuses_a_non_empty_out_and_overwrite_replaces_it(tiny_model_name, data_dir, tmp_path, capsys):
    from cli.helpers import assert_one_line_error, run
    out = tmp_path / "textrun"
    (out / "best").mkdir(parents=True)
    (out / "best" / "meta.json").write_text('{"task": "text-classification"}')
    (out / "curves.png").write_text("my own figure")
    before = tree(out)
    assert_one_line_error(*run(capsys, *_cli_args(tiny_model_name, data_dir, out)),
                          f"train: output folder {out} already exists and is not empty", "--overwrite")
    assert tree(out) == before
    rc, _, err = run(capsys, *_cli_args(tiny_model_name, data_dir, out, "--overwrite", "--no-tensorboard"))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["best", "history.csv", "history.json", "last",
                                                     "test_metrics.json"]
    assert "text-classification" not in (out / "best" / "meta.json").read_text()
    assert_one_line_error(*run(capsys, *_cli_args(tiny_model_name, data_dir, out)),
                          f"{out} already holds a training run", f"--resume {out}", "--overwrite")
    assert_one_line_error(*run(capsys, "train", "--resume", out, "--overwrite", "--no-progress"),
                          "--overwrite starts a new run and --resume continues one")


def test_unwritable_out_is_one_line_before_any_work(tiny_model_name, data_dir, tmp_path, capsys, monkeypatch):
    import tempfile

    from cli.helpers import assert_one_line_error, run

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", kw.get("dir"))
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    out = tmp_path / "ro" / "run"
    assert_one_line_error(*run(capsys, *_cli_args(tiny_model_name, "/nonexistent", out)),
                          f"train: cannot write the output folder {out}: Read-only file system; choose another --out")
    assert list(tmp_path.iterdir()) == []


def test_full_disk_names_the_folder_and_what_to_do(tiny_model_name, data_dir, tmp_path):
    out = tmp_path / "run"
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match=f"^train: cannot write in the run folder {out}: No space left on device; "
                                      "free some space or choose another --out$"):
        train(_cfg(tiny_model_name, data_dir), out, extra_callbacks=[Raise(full, epoch=1)], **QUIET)
    assert not out.exists()
    with pytest.raises(OSError, match=f"^train: cannot write in the run folder {out}: No space left on device; "
                                      f"{out}/last holds epoch 1 of 2: free some space, then continue with "
                                      f"`scratchcnn train --resume {out}`$"):
        train(_cfg(tiny_model_name, data_dir), out, extra_callbacks=[Raise(full, epoch=2)], **QUIET)
    assert (out / "last" / "trainer_state.json").is_file()


def test_a_dataset_that_cannot_be_read_keeps_its_own_line(tiny_model_name, tmp_path):
    from scratchcnn.io.outdir import write_error
    exc = PermissionError(errno.EACCES, "Permission denied", "/data/mnist/train-images-idx3-ubyte")
    assert write_error(exc, tmp_path / "run", "train") is None
    assert write_error(ValueError("x"), tmp_path / "run", "train") is None


@pytest.mark.parametrize("case", ["cwd", "parent of cwd", "home", "git"])
def test_overwrite_never_empties_the_working_or_home_folder_or_a_checkout(tmp_path, monkeypatch, case):
    """`--out . --overwrite` (or ~, or a git checkout) would delete what the user works in: refused, untouched."""
    from scratchcnn.io.outdir import check_new_output_folder
    work = tmp_path / "project" / "src"
    work.mkdir(parents=True)
    (work / "code.py").write_text("x = 1")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    out = {"cwd": work, "parent of cwd": tmp_path / "project", "home": tmp_path / "home",
           "git": tmp_path / "repo"}[case]
    if case == "git":
        (out / ".git").mkdir(parents=True)
        (out / "README").write_text("r")
    why = {"cwd": "it is the current folder", "parent of cwd": "it is or holds the current folder",
           "home": "it is your home folder", "git": "it is a git checkout"}[case]
    with pytest.raises(ValueError, match=f"train: --overwrite would delete everything in .*\\({why}"):
        check_new_output_folder(out, "train", overwrite=True)
    check_new_output_folder(tmp_path / "elsewhere", "train", overwrite=True)     # a missing folder: nothing to ask
