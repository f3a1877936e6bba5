"""``import cissreg`` changes nothing in mmengine; ``register_all_modules`` installs cissreg's
registry error translation and safe checkpoint loader, once."""
import subprocess
import sys
import textwrap

_PROBE = textwrap.dedent('''
    import pkgutil
    from importlib import import_module

    from mmengine import registry as mm
    from mmengine.registry import DefaultScope, build_from_cfg
    from mmengine.registry.build_functions import (build_model_from_cfg,
                                                   build_runner_from_cfg,
                                                   build_scheduler_from_cfg)
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

    roots = {name: getattr(mm, name) for name in dir(mm)
             if isinstance(getattr(mm, name), mm.Registry)}
    before = {name: root.build_func for name, root in roots.items()}
    assert before['MODELS'] is build_model_from_cfg and before['HOOKS'] is build_from_cfg
    assert before['RUNNERS'] is build_runner_from_cfg
    assert before['PARAM_SCHEDULERS'] is build_scheduler_from_cfg
    assert CheckpointLoader._schemes[''] is load_from_local

    import cissreg
    skipped = []
    for info in pkgutil.walk_packages(cissreg.__path__, 'cissreg.'):
        if info.name.endswith('__main__'):
            continue
        try:
            import_module(info.name)
        except ImportError as err:  # an optional extra that is not installed
            skipped.append(f'{info.name}: {err}')
    from cissreg import registry as ciss

    children = [r for r in vars(ciss).values() if isinstance(r, ciss.CissRegistry)]
    assert len(children) == 20, len(children)
    assert all(r.parent._children['cissreg'] is r for r in children)
    changed = [n for n, root in roots.items() if root.build_func is not before[n]]
    assert not changed, f'import cissreg changed the build_func of {changed}'
    assert CheckpointLoader._schemes[''] is load_from_local, 'import cissreg changed the loader'
    assert DefaultScope.get_current_instance() is None

    from cissreg.engine.runner import CissRunner
    from cissreg.testing.toy_parts import toy_cfg
    from cissreg.utils import register_all_modules
    from cissreg.utils.safe_load import load_from_local_safe
    CissRunner.from_cfg(toy_cfg(WORK_DIR))  # building a CissRunner makes the call
    wrapped = {n: roots[n].build_func for n in roots}
    parents = {r.parent.name for r in children}
    assert {roots[n].name for n in roots if wrapped[n] is not before[n]} == parents
    assert all(getattr(roots[n].build_func, 'translates_cissreg_errors', False)
               for n in roots if roots[n].name in parents)
    assert all(wrapped[n].__wrapped__ is before[n] for n in roots if roots[n].name in parents)
    assert CheckpointLoader._schemes[''] is load_from_local_safe
    assert DefaultScope.get_current_instance().scope_name == 'cissreg'  # the config's scope

    register_all_modules()  # idempotent: nothing is wrapped twice
    assert all(roots[n].build_func is wrapped[n] for n in roots)
    assert CheckpointLoader._schemes[''] is load_from_local_safe
    print('OK', len(skipped))
''')


def test_import_changes_nothing_until_register_all_modules(tmp_path):
    probe = _PROBE.replace('WORK_DIR', repr(str(tmp_path)))
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith('OK')
