"""Every tracked file reads on its own: no pointer to documents outside the repository.

The needles are assembled from pieces so that this file does not contain them itself.
"""
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Names of documents that are not in the repository, and wording that only makes sense
#: next to them. Matched case-insensitively.
NEEDLES = ('SPEC' + '.md', 'shared' + '/', 'this ' + 'session', 'engineer' + "s'")


def tracked_files() -> List[Path]:
    """The files ``git ls-files`` lists in the repository root, as absolute paths.

    Fails (never skips) when git or the git metadata is missing: this test guards the
    repository's contents, so it has to run wherever the test suite runs.
    """
    git = shutil.which('git')
    if git is None:
        pytest.fail('test_repository_stands_alone needs the git executable to list the '
                    'tracked files; install git (CI must run this test, not skip it)')
    proc = subprocess.run([git, 'ls-files', '-z'], cwd=REPO_ROOT, capture_output=True)
    if proc.returncode != 0:
        pytest.fail(f'git ls-files failed in {REPO_ROOT} (exit {proc.returncode}): '
                    f'{proc.stderr.decode(errors="replace").strip()}; run the tests from a '
                    'git checkout of cissreg')
    names = [n for n in proc.stdout.decode().split('\0') if n]
    assert names, f'git ls-files listed no files in {REPO_ROOT}'
    return [REPO_ROOT / n for n in names]


def is_binary(data: bytes) -> bool:
    """A NUL byte in the first 8 KiB marks a binary file (git's own heuristic)."""
    return b'\0' in data[:8192]


def needle_hits(text: str) -> List[str]:
    """``'line N: NEEDLE'`` for every needle occurrence in ``text``."""
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        lower = line.lower()
        hits += [f'line {number}: {n}' for n in NEEDLES if n.lower() in lower]
    return hits


def test_needle_hits_finds_each_needle_in_any_case():
    text = 'a\n' + '\n'.join(n.upper() for n in NEEDLES) + '\nb ' + NEEDLES[1]
    assert needle_hits(text) == [f'line {i + 2}: {n}' for i, n in enumerate(NEEDLES)] + [
        f'line {len(NEEDLES) + 2}: {NEEDLES[1]}']
    assert needle_hits('random seed 0; tests/test_configs/tiny/_shared.py') == []


def test_no_tracked_file_points_outside_the_repository():
    files = tracked_files()
    problems = []
    for path in files:
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        data = path.read_bytes()
        if is_binary(data):
            continue
        hits = needle_hits(data.decode('utf-8', errors='replace'))
        problems += [f'{path.relative_to(REPO_ROOT)} {hit}' for hit in hits]
    assert not problems, (
        'these tracked files refer to documents outside the repository (cite the paper, the '
        'public repository or a page under docs/ instead):\n' + '\n'.join(problems))
