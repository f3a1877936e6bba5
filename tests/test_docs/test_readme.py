"""README.md stays a short entry page: what cissreg is, two commands, links."""
from pathlib import Path

README = Path(__file__).resolve().parents[2] / 'README.md'


def test_readme_is_under_60_lines():
    lines = README.read_text(encoding='utf-8').splitlines()
    assert len(lines) < 60, (
        f'README.md has {len(lines)} lines; keep it under 60 (details go to docs/)')
