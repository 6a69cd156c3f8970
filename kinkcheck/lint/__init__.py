"""The static analyzer.

Pipeline (each stage cheap before the next): ``index.index_source`` (one stdlib-``ast``
pass per file, cacheable) -> ``scope.loss_scope`` (what is loss code, across files) ->
``engine.analyze_file`` (rule matching, guards and checks on the functions in scope), with
kink comments applied by ``pipeline.analyze_source`` (one file, for the CLI and the API
alike). The run (discovery, cache, process pool) lives in ``runner``/``api``. Nothing is
imported here so that ``import kinkcheck.lint.index`` stays light.
"""
