import math

import nbformat
import pytest

from ltlab.runner import (
    RESULT_MIME,
    _jsonable,
    notebook_parameters,
    read_results,
    run_notebook,
    validate_parameters,
)


def _notebook(path, body="record('answer', x * 2)"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("x = 1\nname = 'a'\nquick = True\ninteractive = True")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("from ltlab import record\n" + body)]
    nbformat.write(nb, path)
    return path


def test_record_values_are_json_and_read_back():
    import torch

    value = {"a": torch.tensor([1.5, 2.0]), "b": float("nan"), "c": (1, "x")}
    js = _jsonable(value)
    assert js == {"a": [1.5, 2.0], "b": {"__float__": "nan"}, "c": [1, "x"]}
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={RESULT_MIME: {"name": "r", "value": js, "codec": 2}})]
    nb.cells = [cell]
    out = read_results(nb)
    assert out["r"]["a"] == [1.5, 2.0] and math.isnan(out["r"]["b"])
    with pytest.raises(TypeError):
        _jsonable(object())


def test_parameters_are_checked_before_running(tmp_path):
    path = _notebook(tmp_path / "nb.ipynb")
    assert notebook_parameters(path) == {"x": 1, "name": "a", "quick": True, "interactive": True}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['seeed'\]"):
        validate_parameters(path, {"seeed": 1})
    with pytest.raises(TypeError, match="expects int"):
        validate_parameters(path, {"x": "two"})
    with pytest.raises(TypeError, match="expects int"):
        validate_parameters(path, {"x": True})
    validate_parameters(path, {"x": 3, "quick": False})
    with pytest.raises(ValueError, match="unknown"):
        run_notebook(path, {"imbalance": 5})


def test_run_notebook_executes_and_returns_results(tmp_path):
    path = _notebook(tmp_path / "nb.ipynb")
    out = tmp_path / "out.ipynb"
    assert run_notebook(path, {"x": 21}, out) == {"answer": 42}
    executed = nbformat.read(out, as_version=4)
    assert "widgets" not in executed.metadata  # no widget state stored


def test_run_notebook_keeps_the_kernel_log_quiet_but_reports_errors(tmp_path, capfd):
    """The kernel's start-up warnings (ipykernel logs one on every TCP start) stay out of
    a batch run's output; an error in a cell still fails the run, naming the error."""
    assert run_notebook(_notebook(tmp_path / "ok.ipynb"), {"x": 2}) == {"answer": 4}
    assert "without encryption" not in capfd.readouterr().err
    bad = _notebook(tmp_path / "bad.ipynb", body="raise KeyError('no such class')")
    with pytest.raises(Exception, match="no such class"):
        run_notebook(bad, {})


def test_missing_notebook_and_parameters_cell(tmp_path):
    with pytest.raises(FileNotFoundError):
        run_notebook(tmp_path / "nope.ipynb")
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, tmp_path / "plain.ipynb")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        notebook_parameters(tmp_path / "plain.ipynb")
