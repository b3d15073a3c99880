"""Files: atomic writes that survive interruption, data files, and fuzzing of the spec parser."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import io as files
from backprop_cli.cli import main
from backprop_cli.errors import BackpropError, DataError, OutputError, SpecError
from backprop_cli.io import (
    DATA_KEYS,
    LAYER_KEYS,
    TOP_KEYS,
    Spec,
    check_writable,
    load_data,
    parse_spec,
    read_document,
    write_atomic,
)

OLD = "old content, complete\n" * 100
NEW = "new content, complete\n" * 100


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- atomic writes ----------------------------------------------------------------------------

def test_write_replaces_the_whole_file(tmp_path):
    target = tmp_path / "out.md"
    write_atomic(target, OLD)
    write_atomic(target, NEW, force=True)
    assert target.read_text() == NEW and leftovers(tmp_path) == []


class HalfWriter:
    """A file that writes half of what it is given, then fails (a full disk, a killed process)."""

    def __init__(self, real, error: BaseException):
        self.real, self.error = real, error

    def write(self, data):
        self.real.write(data[: len(data) // 2])
        self.real.flush()
        raise self.error

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "Ctrl-C"])
@pytest.mark.parametrize("existing", [True, False], ids=["over an old file", "new file"])
def test_an_interrupted_write_leaves_the_old_file_or_none(tmp_path, monkeypatch, error, existing):
    target = tmp_path / "out.md"
    if existing:
        target.write_text(OLD)
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k), error))
    expected = OutputError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write_atomic(target, NEW, force=True)
    assert (target.read_text() == OLD) if existing else not target.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("step", ["fsync", "replace", "chmod"])
def test_a_failure_at_any_later_step_leaves_the_old_file(tmp_path, monkeypatch, step):
    target = tmp_path / "out.md"
    target.write_text(OLD)

    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(files.os, step, fail)
    with pytest.raises(OutputError, match="output: cannot write .*out.md \\(Input/output error\\)"):
        write_atomic(target, NEW, force=True)
    assert target.read_text() == OLD and leftovers(tmp_path) == []


def test_the_command_line_interrupted_mid_write_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    target = tmp_path / "step.md"
    target.write_text(OLD)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupted)
    assert main(["step", "--output", str(target), "--force"]) == 130  # as a shell reports Ctrl-C
    assert "Traceback" not in capsys.readouterr().err
    assert target.read_text() == OLD and leftovers(tmp_path) == []


def test_permissions_are_kept_or_the_usual_ones(tmp_path):
    target = tmp_path / "out.md"
    target.write_text(OLD)
    target.chmod(0o640)
    write_atomic(target, NEW, force=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.md"
    umask = os.umask(0o022)
    try:
        write_atomic(fresh, NEW)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_existing_files_folders_and_missing_folders(tmp_path):
    (tmp_path / "there.md").write_text(OLD)
    with pytest.raises(OutputError, match="exists; use --force"):
        check_writable(tmp_path / "there.md", force=False)
    with pytest.raises(OutputError, match="is a directory"):
        check_writable(tmp_path, force=True)
    with pytest.raises(OutputError, match="the folder .*missing does not exist"):
        check_writable(tmp_path / "missing" / "out.md", force=False)
    assert (tmp_path / "there.md").read_text() == OLD


def test_an_unwritable_folder_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            write_atomic(folder / "out.md", NEW)
    finally:
        folder.chmod(0o700)


def test_init_and_step_refuse_to_overwrite(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text(OLD)
    assert main(["init", str(spec)]) == 2
    assert main(["step", "--output", str(spec.with_suffix(".md"))]) == 0
    assert main(["step", "--output", str(spec.with_suffix(".md"))]) == 2
    err = capsys.readouterr().err
    assert err.count("exists; use --force to overwrite it") == 2
    assert spec.read_text() == OLD


# --- data files -------------------------------------------------------------------------------

def test_csv_header_byte_order_mark_and_targets(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeffx1,x2,y\n1,2,0\n3,4,1\n".encode())
    assert load_data(path) == (((1.0, 2.0), (3.0, 4.0)), ((0.0,), (1.0,)))
    path.write_bytes("\ufeff1,2,0\n".encode())
    assert load_data(path) == (((1.0, 2.0),), ((0.0,),))  # the mark is not part of the first number
    path.write_text("1,2,0,1\n")
    assert load_data(path, targets=2) == (((1.0, 2.0),), ((0.0, 1.0),))


def test_a_typo_in_the_first_row_is_an_error_not_a_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2o,0\n3,4,1\n")
    with pytest.raises(DataError, match="sample 1, column 2: '2o' is not a number"):
        load_data(path)


def test_numpy_files(tmp_path):
    np = pytest.importorskip("numpy")
    np.savez(tmp_path / "d.npz", x=np.array([[1, 2], [3, 4]]), y=np.array([0, 1]))
    assert load_data(tmp_path / "d.npz") == (((1.0, 2.0), (3.0, 4.0)), ((0.0,), (1.0,)))
    np.save(tmp_path / "d.npy", np.array([[1.0, 2.0, 0.5]]))
    assert load_data(tmp_path / "d.npy") == (((1.0, 2.0),), ((0.5,),))


def test_a_pickled_npy_runs_nothing(tmp_path):
    np = pytest.importorskip("numpy")

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "marker"), "w"))

    np.save(tmp_path / "evil.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickled"):
        load_data(tmp_path / "evil.npy")
    assert not (tmp_path / "marker").exists()
    np.load(tmp_path / "evil.npy", allow_pickle=True)  # the control: an unsafe load runs it
    assert (tmp_path / "marker").exists()


# --- fuzzing ----------------------------------------------------------------------------------

NUMBERS = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans())
SCALARS = st.one_of(NUMBERS, st.text(max_size=8), st.sampled_from(["sigmoid", "x*sigmoid(x)", "bce", "adam",
                                                                   "mse", "softmax", "he", "x.real"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=12)
MATRICES = st.lists(st.lists(st.floats(-3, 3), min_size=1, max_size=3), min_size=1, max_size=3)
LAYERS = st.dictionaries(st.sampled_from([*LAYER_KEYS, "activaton", "wieght"]),
                         st.one_of(VALUES, MATRICES, st.integers(1, 4)), max_size=4)
DOCUMENTS = st.dictionaries(
    st.sampled_from([*TOP_KEYS, "los", "layer"]),
    st.one_of(VALUES, st.lists(LAYERS, max_size=3),
              st.dictionaries(st.sampled_from([*DATA_KEYS, "z"]), st.one_of(MATRICES, VALUES), max_size=2)),
    max_size=6)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=400)
@given(st.one_of(DOCUMENTS, VALUES))
def test_fuzz_parse_spec_only_spec_errors(document):
    try:
        spec = parse_spec(document)
    except BackpropError as error:
        assert "\n" not in str(error) and len(str(error)) < 400
        return
    assert isinstance(spec, Spec)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None,
          max_examples=200)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 DOCUMENTS.map(lambda d: json.dumps(d, default=str).encode())),
       st.sampled_from([".toml", ".json"]))
def test_fuzz_spec_files_only_spec_errors(tmp_path, content, suffix):
    path = tmp_path / f"spec{suffix}"
    path.write_bytes(content)
    try:
        parse_spec(read_document(path))
    except BackpropError as error:
        assert "\n" not in str(error)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None,
          max_examples=200)
@given(st.one_of(st.binary(max_size=120), st.text(max_size=120).map(str.encode)),
       st.sampled_from([".csv", ".npy", ".npz"]))
def test_fuzz_data_files_only_data_errors(tmp_path, content, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    try:
        load_data(path)
    except (DataError, SpecError) as error:
        assert "\n" not in str(error)
