"""meshpipe: connect meshStack building blocks with CI/CD pipelines.

Three parts live here: :mod:`meshpipe.trigger` renders Trigger Modules, :mod:`meshpipe.report` reports a
pipeline's progress back to meshStack, and :mod:`meshpipe.fakes` provides local fakes of GitHub and meshStack.
This module stays import-free so that every command starts fast.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
