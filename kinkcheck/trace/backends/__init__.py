"""Tracer backends: ``torch`` (a TorchDispatchMode at the aten level) and ``numpy`` (patches)."""
