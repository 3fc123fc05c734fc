"""Build hook: ship the examples inside the package (team-bucket and one per other target), so `meshpipe sandbox` and
`meshpipe demo [--target ...]` work from an installed wheel.

The example's files have one source, ``examples/team-bucket/`` (spec, workflows, pipeline.py); they are copied into
``meshpipe/_examples/team-bucket/`` of the build, never kept as a second copy in ``src/``. The module and the
definition are not shipped: the sandbox renders them from the spec at run time with the package's own generator.
Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: example name -> files shipped (relative to examples/<name>/)
PACKAGED_EXAMPLES = {
    "team-bucket": ["spec.yaml", "pipeline.py", ".github/workflows/apply.yml", ".github/workflows/destroy.yml"],
    # `meshpipe demo --target gitlab|azure_devops|webhook`
    "gitlab-namespace": ["spec.yaml", "pipeline.py", ".gitlab-ci.yml"],
    "azure-sql-database": ["spec.yaml", "pipeline.py", "azure-pipelines.yml"],
    "webhook-jenkins-job": ["spec.yaml", "pipeline.py"],
}


class BuildWithExamples(build_py):
    """``build_py`` that also copies the packaged examples into the built package."""

    def run(self) -> None:
        super().run()
        for name, files in PACKAGED_EXAMPLES.items():
            for relative in files:
                source = ROOT / "examples" / name / relative
                target = Path(self.build_lib) / "meshpipe" / "_examples" / name / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


setup(cmdclass={"build_py": BuildWithExamples})
