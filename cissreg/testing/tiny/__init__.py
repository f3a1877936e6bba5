"""Per-folder adapters of ``tests/test_configs/test_all_configs.py``.

``tiny/<folder>.py`` serves every config under ``configs/<folder>/`` and defines

* ``make_tiny(cfg, tmp_path) -> cfg``: the config rewritten to build the same components but
  run one or two iterations on tiny data (written under ``tmp_path``, or shared for the session
  through :func:`tiny._shared.shared_data`); rewrite generically (by dataset type, by key), not
  per file, so that a new config in the folder needs no change here;
* optionally ``check(runner, cfg)``: what the folder's configs must have produced after
  training (files, metrics, results), beyond "built and ran".
"""
