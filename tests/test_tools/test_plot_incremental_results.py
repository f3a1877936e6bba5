"""tools/analysis_tools/plot_incremental_results.py: reads per-task results, plots, errors."""
import json
import math
from pathlib import Path

import pytest

from cissreg.testing.tools import load_tool

pir = load_tool('analysis_tools/plot_incremental_results.py')


def _write(work_dir: Path, values):
    work_dir.mkdir()
    tasks = [dict(task=t, metrics={'m/old': v, 'm/new': math.nan if t == 0 else v / 2})
             for t, v in enumerate(values)]
    (work_dir / 'incremental_results.json').write_text(json.dumps(dict(tasks=tasks)))


def test_reads_tasks_in_order_and_writes_a_png(tmp_path):
    _write(tmp_path / 'dkd', [60.0, 50.0, 40.0])
    _write(tmp_path / 'joint', [70.0])
    data = json.loads((tmp_path / 'dkd' / 'incremental_results.json').read_text())
    data['tasks'].reverse()  # stored order must not matter
    (tmp_path / 'dkd' / 'incremental_results.json').write_text(json.dumps(data))
    results = pir.load_results(str(tmp_path / 'dkd'))
    assert results['m/old'] == [60.0, 50.0, 40.0] and math.isnan(results['m/new'][0])
    out = tmp_path / 'plot.png'
    assert pir.main([str(tmp_path / 'dkd'), str(tmp_path / 'joint'), '--keys', 'm/old',
                     'm/new', '--out', str(out)]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_errors_name_the_file_and_the_keys(tmp_path):
    with pytest.raises(SystemExit, match='incremental_results.json: cannot read'):
        pir.load_results(str(tmp_path))
    _write(tmp_path / 'run', [1.0])
    with pytest.raises(SystemExit):
        pir.main([str(tmp_path / 'run'), '--keys', 'm/typo'])
