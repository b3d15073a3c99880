"""Regenerate the transcripts of README.md (``$ backprop …`` blocks) and docs/xor.md.

    python docs/make_readme.py          # check: exit 1 and a diff where README has drifted
    python docs/make_readme.py --write  # rewrite them from what the commands print now

Each block's commands run in one fresh temporary folder, with the terminal 80 columns wide; a
block that ends in a ``…`` line keeps only as many lines as it shows. Where a run differs by
nature (timings, the torch version, finite differences' last digits), the check compares with
those numbers masked (``mask``).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
XOR = ROOT / "docs" / "xor.md"
EXERCISE = ROOT / "docs" / "exercise.md"
EXERCISE_ARGS = ["exercise", "--ask", "forward,loss", "--seed", "3"]
"""The sheet README shows the beginning of (its command there adds --no-figure)."""
BLOCK = re.compile(r"```\n(\$ backprop.*?)```", re.S)


def run_block(block: str) -> str:
    """The block's ``$`` commands run in one temporary folder, each followed by what it printed."""
    lines = block.rstrip("\n").split("\n")
    shown = len(lines)
    elided = lines[-1] == "…"
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "COLUMNS": "80", "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONIOENCODING": "utf-8"}
    env.pop("FORCE_COLOR", None)
    out: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(ROOT / "docs" / "examples", Path(folder) / "docs" / "examples")
        for line in lines:
            if not line.startswith("$ "):
                continue
            result = subprocess.run(["bash", "-c", line[2:]], cwd=folder, env=env, capture_output=True,
                                    text=True, encoding="utf-8")
            out.append(line)
            out += (result.stdout + result.stderr).rstrip("\n").split("\n") if (result.stdout + result.stderr).strip() else []
    if elided:
        out = out[: shown - 1] + ["…"]
    return "\n".join(out) + "\n"


def mask(text: str) -> str:
    """``text`` with the numbers that differ between runs and machines replaced by ``#``."""
    text = re.sub(r"\d+ epochs in [0-9.e-]+ s \([0-9,.]+ epochs/s\)", "# epochs in # s (# epochs/s)", text)
    text = re.sub(r"PyTorch \S+ autograd", "PyTorch # autograd", text)
    text = re.sub(r"-?\d+(\.\d+)?e[-+]?\d+", "#", text)
    return re.sub(r" +", " ", text)  # a masked number's width moves the padding after it


def xor_page() -> str:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "xor.md"
        subprocess.run([sys.executable, "-m", "backprop_cli", "step", "--data", "xor", "--output", str(target)],
                       check=True, capture_output=True)
        return target.read_text(encoding="utf-8")


def exercise_page() -> str:
    run = subprocess.run([sys.executable, "-m", "backprop_cli", *EXERCISE_ARGS], check=True,
                         capture_output=True, text=True, encoding="utf-8")
    return run.stdout


def regenerate() -> tuple[str, str]:
    """README.md and docs/xor.md as the commands print them now."""
    readme = README.read_text(encoding="utf-8")
    new = BLOCK.sub(lambda m: "```\n" + run_block(m.group(1)) + "```", readme)
    return new, xor_page()


def main() -> int:
    readme, xor = regenerate()
    if "--write" in sys.argv:
        README.write_text(readme, encoding="utf-8")
        XOR.write_text(xor, encoding="utf-8")
        EXERCISE.write_text(exercise_page(), encoding="utf-8")
        return 0
    problems = []
    for path, now in ((README, readme), (XOR, xor), (EXERCISE, exercise_page())):
        before = path.read_text(encoding="utf-8")
        if mask(before) != mask(now):
            problems += difflib.unified_diff(before.splitlines(True), now.splitlines(True), str(path), "now")
    sys.stdout.writelines(problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
