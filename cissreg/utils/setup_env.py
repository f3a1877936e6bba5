"""What a cissreg program sets up once before building anything from a config.

``import cissreg`` registers cissreg's components in cissreg's own child registries and changes
nothing in mmengine or torch. :func:`register_all_modules` is the explicit call (as in mmdet /
mmyolo) that ``tools/*.py`` and :class:`~cissreg.engine.runner.CissRunner` make.
"""
import datetime
import warnings

from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register every cissreg component and install cissreg's process-wide behaviour.

    Idempotent. It

    * imports ``cissreg.datasets``, ``engine``, ``evaluation``, ``models`` and
      ``visualization``, which register their components;
    * makes builds through mmengine's root registries that resolve to a cissreg registry raise
      cissreg's actionable errors (:func:`cissreg.registry.translate_root_build_errors`);
    * routes mmengine's local-file checkpoint loader through safe ``weights_only`` loading and
      allowlists the globals mmengine checkpoints hold
      (:func:`cissreg.utils.safe_load.register_checkpoint_safe_globals`).

    Args:
        init_default_scope (bool): Also make ``'cissreg'`` the default scope, so that
            ``type='...'`` names resolve in cissreg's registries first. Defaults to True.
    """
    import cissreg.datasets  # noqa: F401
    import cissreg.engine  # noqa: F401
    import cissreg.evaluation  # noqa: F401
    import cissreg.models  # noqa: F401
    import cissreg.visualization  # noqa: F401
    from cissreg.registry import translate_root_build_errors

    from .safe_load import register_checkpoint_safe_globals

    translate_root_build_errors()
    register_checkpoint_safe_globals()
    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('cissreg', scope_name='cissreg')
    elif current.scope_name != 'cissreg':
        warnings.warn(f'The current default scope {current.scope_name!r} is not "cissreg"; '
                      'register_all_modules makes a new default scope named "cissreg".')
        name = f'cissreg-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='cissreg')
