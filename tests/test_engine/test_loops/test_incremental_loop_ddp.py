"""Two CPU processes (tools/dist_train.sh, gloo): stages re-wrap DDP, ranks stay in sync."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import torch

from cissreg.testing.clip_cil_parts import ROOT, digits_run_cfg

HOOK_MODULE = textwrap.dedent('''
    import torch
    from mmengine.dist import get_rank
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper

    from cissreg.registry import HOOKS


    @HOOKS.register_module()
    class SaveRankWeightsHook(Hook):
        def after_run(self, runner):
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            torch.save(dict(state_dict=model.state_dict(),
                            wrapper=type(runner.model).__name__),
                       f'{runner.work_dir}/rank{get_rank()}_weights.pth')
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_cpu_processes_train_in_sync(tmp_path):
    (tmp_path / 'clip_cil_rank_weights.py').write_text(HOOK_MODULE)
    work_dir = tmp_path / 'work'
    cfg = digits_run_cfg(str(work_dir), **{'train_cfg.num_tasks': 2})
    cfg.custom_hooks = [dict(type='SaveRankWeightsHook')]
    cfg.custom_imports = dict(imports=['clip_cil_rank_weights'], allow_failed_imports=False)
    config = str(tmp_path / 'clip_cil_ddp.py')
    cfg.dump(config)
    env = dict(os.environ, PORT=str(_free_port()), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(['bash', 'tools/dist_train.sh', config, '2'], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [torch.load(work_dir / f'rank{r}_weights.pth', weights_only=True) for r in (0, 1)]
    assert [r['wrapper'] for r in ranks] == ['FiniteLossDistributedDataParallel'] * 2
    trained = ['prompt_learner.pool.0.ctx', 'prompt_learner.pool.1.ctx', 'heads.1.weight',
               'heads.1.bias', 'replay_sampler.means', 'replay_sampler.chol_tril']
    for key in trained:  # each rank saw its half of every task, DDP kept them equal
        assert torch.equal(ranks[0]['state_dict'][key], ranks[1]['state_dict'][key]), key
    assert bool(ranks[0]['state_dict']['head_ready'][1])
    with open(work_dir / 'cil_results.json') as f:
        assert [t['task'] for t in json.load(f)['tasks']] == [0, 1]
