"""kinkcheck in the developer's workflow: fingerprints, baseline, ``--diff``, pytest plugin.

Nothing here imports torch or the analyzer, and this package's ``__init__`` imports nothing:
the pytest plugin is loaded by every pytest run of every project that installs kinkcheck.
"""
