"""Faithful local fakes of GitHub, GitLab and meshStack.

:class:`meshpipe.fakes.github.FakeGitHub`, :class:`meshpipe.fakes.gitlab.FakeGitLab` and
:class:`meshpipe.fakes.meshstack.FakeMeshStack` are real HTTP servers on ``127.0.0.1`` that enforce the rules of the
real APIs (see ``tests/fixtures/specs``). They run in-process
(pytest fixtures from :mod:`meshpipe.fakes.pytest_plugin`), as a process (``meshpipe fake ...``) or together
(``meshpipe sandbox``). Submodules are imported on demand.
"""
