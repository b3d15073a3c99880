"""backprop step --with-code: the page ends with the PyTorch code of its step, in every format, and
that code, run, prints the page's numbers (to 1e-12)."""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from backprop_cli.cli import main
from tests.reference import assert_close

torch = pytest.importorskip("torch")

ARGS = [["--x", "1", "1", "--y", "0"],
        ["--layers", "2", "3", "2", "--activation", "tanh", "softmax", "--loss", "cross_entropy", "--x", "0.5", "-1",
         "--y", "0", "1", "--x", "1", "0", "--y", "1", "0", "--optimizer", "adam", "--lr", "0.1", "--seed", "4"]]
MARKERS = ("output = model(x)", "loss = criterion(output, y)", "loss.backward()", "optimizer.step()")


def code_of(page: str, fmt: str) -> str:
    if fmt == "markdown":
        return re.search(r"```python\n(.*?)```", page, flags=re.S).group(1)
    if fmt == "latex":
        return re.search(r"\\begin\{verbatim\}\n(.*?)\\end\{verbatim\}", page, flags=re.S).group(1)
    return html.unescape(re.search(r'<pre class="code"><code class="language-python">(.*?)</code></pre>', page,
                                   flags=re.S).group(1))


def run(code: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "step.py", "exec"), {"__name__": "__main__"})  # noqa: S102  (our generated code)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("args", ARGS)
@pytest.mark.parametrize("fmt", ["markdown", "latex", "html"])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_code_on_the_page_reproduces_it(capsys, args, fmt, lang) -> None:
    assert main(["step", *args, "--format", "json"]) == 0
    page_json = json.loads(capsys.readouterr().out)
    assert main(["step", *args, "--with-code", "--format", fmt, "--lang", lang]) == 0
    page = capsys.readouterr().out
    code = code_of(page, fmt)
    for marker in MARKERS:
        assert marker in code
    assert ("The step in PyTorch" if lang == "en" else "파이토치 코드로 본 학습 단계") in page
    assert_close(run(code), page_json, 1e-12)


def test_the_terminal_page_ends_with_the_code(capsys) -> None:
    assert main(["step", "--with-code"]) == 0
    out = capsys.readouterr().out
    assert "The step in PyTorch" in out and "loss.backward()" in out


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_latex_page_with_code_compiles(tmp_path: Path) -> None:
    assert main(["step", "--with-code", "-o", str(tmp_path / "step.tex")]) == 0
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "step.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_network_without_a_script_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "step.md"
    assert main(["step", "--with-code", "--activation", "x/(1+abs(x))", "sigmoid", "-o", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: PyTorch code:") and not path.exists()
