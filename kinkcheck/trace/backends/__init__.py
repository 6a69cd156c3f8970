"""Tracer backends: ``torch`` (a TorchDispatchMode at the aten level) and ``numpy`` (patches)."""

import threading

#: ``_tls.busy`` is set while a backend measures an op: the tracer's own counting (torch's
#: host path uses numpy) must never be counted by another backend as the user's kink.
_tls = threading.local()
