"""The experiments of ``fabrictwin experiment``, one module each (see
:mod:`fabrictwin.cli.experiment`); their orchestration lives in :mod:`fabrictwin.runs`."""
