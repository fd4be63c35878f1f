"""`make mutation`: mutation testing (mutmut 3) of the modules that decide and store, and training/metrics.py.

mutmut writes its `mutants/` tree next to the configuration, so it runs in a copy of the working tree under
var/mutation (ignored by git): the checkout never holds mutants. The modules and tests are configured in
pyproject.toml's [tool.mutmut]; docs/mutation.md lists the equivalent mutants and the run time.

    .venv/bin/python tools/mutation.py [--only GLOB ...] [--max-children N]

Prints the score (killed / (killed + survived), timeouts counted as killed, as mutmut does) and the survivors,
and exits 1 below --fail-under (default 90).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_DIR = PROJECT_DIR / "var" / "mutation"
KILLED = {"killed", "timeout", "segfault"}


def copy_tree(destination: Path) -> None:
    """The working tree as git sees it (tracked and untracked-but-not-ignored files), without var/."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=PROJECT_DIR, check=True,
                           capture_output=True).stdout.decode().split("\0")
    if destination.exists():
        shutil.rmtree(destination)
    for name in filter(None, files):
        source = PROJECT_DIR / name
        if name.startswith("var/") or not source.is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def only(patterns: list[str]) -> None:
    """Narrow [tool.mutmut] only_mutate in the copy's pyproject.toml to `patterns` (a measured subset)."""
    pyproject = WORK_DIR / "pyproject.toml"
    text = pyproject.read_text()
    listed = ", ".join(f'"{pattern}"' for pattern in patterns)
    text, count = re.subn(r"only_mutate = \[.*?\]", f"only_mutate = [{listed}]", text, flags=re.S)
    assert count == 1, "pyproject.toml has no [tool.mutmut] only_mutate"
    pyproject.write_text(text)


def results() -> dict[str, str]:
    """mutant name -> status, from `mutmut results --all true`."""
    output = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=WORK_DIR,
                            capture_output=True, text=True).stdout
    found = {}
    for line in output.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status:
            found[name] = status
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="GLOB", help="mutate only these files (e.g. chalicelib/verdicts.py)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--fail-under", type=float, default=90.0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    copy_tree(WORK_DIR)
    if args.only:
        only(args.only)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
                         cwd=WORK_DIR, env=env)
    statuses = results()
    if run.returncode != 0 and not statuses:
        return run.returncode
    killed = sum(status in KILLED for status in statuses.values())
    survivors = sorted(name for name, status in statuses.items() if status == "survived")
    other = sorted(f"{name}: {status}" for name, status in statuses.items()
                   if status not in KILLED and status != "survived")
    judged = killed + len(survivors)
    score = 100.0 * killed / judged if judged else 0.0
    print(f"\nmutation score: {score:.1f} % ({killed} killed of {judged}; {len(statuses)} mutants) "
          f"in {time.monotonic() - started:.0f} s")
    for name in survivors:
        print(f"survived: {name}    (show: cd var/mutation && ../../.venv/bin/mutmut show {name})")
    for line in other:
        print(f"not judged: {line}")
    return 0 if score >= args.fail_under else 1


if __name__ == "__main__":
    sys.exit(main())
