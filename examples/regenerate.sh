#!/usr/bin/env bash
# Regenerate what is generated outside modules/: the examples' modules and definitions, and the README's command
# reference. Run it after changing a spec, the generator's templates, or any command's --help text; the tests
# (tests/test_examples.py, tests/test_readme.py) fail until the committed files match.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/meshpipe" module render examples/team-bucket/spec.yaml -o examples/team-bucket/module
"$bin/meshpipe" definition render examples/team-bucket/spec.yaml \
    --repository-url https://github.com/acme/team-bucket.git --path examples/team-bucket/module \
    --output bucket_url=STRING:RESOURCE_URL --out examples/team-bucket/publish/definition.tf
"$bin/python" -m meshpipe._docs
