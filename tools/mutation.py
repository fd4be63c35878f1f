"""`make mutation`: mutation testing (mutmut 3) of the modules that decide and store, and training/metrics.py.

mutmut writes its `mutants/` tree next to the configuration, so it runs in a copy of the working tree under
var/mutation (ignored by git): the checkout never holds mutants. The modules and tests are configured in
pyproject.toml's [tool.mutmut]; docs/mutation.md lists the equivalent mutants and the run time.

    .venv/bin/python tools/mutation.py [--only GLOB ...] [--max-children N] [--commit HEAD]

Prints the score, killed / all mutants (timeouts, segfaults and type-check catches count as killed, as mutmut
does; a mutant that survived, that no selected test covers ("no tests"), that is suspicious or was not checked
counts as not killed), the count per status and every mutant not killed, and exits 1 below --fail-under
(default 90).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_DIR = PROJECT_DIR / "var" / "mutation"
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


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


def copy_commit(destination: Path, commit: str) -> None:
    """The tree of `commit` (what a fresh clone holds), without others' uncommitted work in the checkout."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=PROJECT_DIR, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)


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


def mutation_score(statuses: dict[str, str]) -> float:
    """Percentage of all mutants killed: one that survived, that no test covers, or that was not judged is not."""
    killed = sum(status in KILLED for status in statuses.values())
    return 100.0 * killed / len(statuses) if statuses else 0.0


def summary(statuses: dict[str, str], seconds: float) -> str:
    counts = Counter(statuses.values())
    killed = sum(counts[status] for status in KILLED)
    by_status = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    return (f"mutation score: {mutation_score(statuses):.1f} % ({killed} killed of {len(statuses)} mutants; "
            f"{by_status}) in {seconds:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="GLOB", help="mutate only these files (e.g. chalicelib/verdicts.py)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--fail-under", type=float, default=90.0)
    parser.add_argument("--commit", metavar="REV",
                        help="mutate this commit's tree (e.g. HEAD, as a fresh clone) instead of the working tree")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.commit:
        copy_commit(WORK_DIR, args.commit)
    else:
        copy_tree(WORK_DIR)
    if args.only:
        only(args.only)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
                         cwd=WORK_DIR, env=env)
    statuses = results()
    if run.returncode != 0 and not statuses:
        return run.returncode
    print()
    print(summary(statuses, time.monotonic() - started))
    for name, status in sorted(statuses.items()):
        if status not in KILLED:
            print(f"{status}: {name}    (show: cd var/mutation && ../../.venv/bin/mutmut show {name})")
    score = mutation_score(statuses)
    return 0 if score >= args.fail_under else 1


if __name__ == "__main__":
    sys.exit(main())
