#!/usr/bin/env bash
# Regenerate what is generated outside modules/: the examples' modules, definitions and pipeline definitions, and
# the README's command reference. Run it after changing a spec, the generator's templates, the reporter bundle
# (action/meshpipe.pyz, whose sha256 the GitLab and Azure examples pin) or any command's --help text; the tests
# (tests/test_examples.py, tests/test_readme.py) fail until the committed files match.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
"$bin/meshpipe" module render examples/team-bucket/spec.yaml -o examples/team-bucket/module
"$bin/meshpipe" definition render examples/team-bucket/spec.yaml \
    --repository-url https://github.com/acme/team-bucket.git --path examples/team-bucket/module \
    --output bucket_url=STRING:RESOURCE_URL --out examples/team-bucket/publish/definition.tf

# One example per other target: the module, its definition, and its pipeline definition (GitLab, Azure Pipelines)
# or receiver sketch (webhook). Their pipelines fetch the reporter bundle pinned by its sha256.
bundle_sha256=$(sha256sum action/meshpipe.pyz | cut -d' ' -f1)
for example in gitlab-namespace:namespace_url azure-sql-database:database_url webhook-jenkins-job:job_url; do
    name=${example%%:*} output=${example#*:}
    dir=examples/$name
    "$bin/meshpipe" module render "$dir/spec.yaml" -o "$dir/module"
    "$bin/meshpipe" definition render "$dir/spec.yaml" \
        --repository-url "https://github.com/acme/$name.git" --path "$dir/module" \
        --output "$output=STRING:RESOURCE_URL" --out "$dir/publish/definition.tf"
done
"$bin/meshpipe" workflow render examples/gitlab-namespace/spec.yaml \
    --run "python3 examples/gitlab-namespace/pipeline.py job" --reporter-sha256 "$bundle_sha256" \
    -o examples/gitlab-namespace/.gitlab-ci.yml
"$bin/meshpipe" workflow render examples/azure-sql-database/spec.yaml \
    --run "python3 examples/azure-sql-database/pipeline.py job" --reporter-sha256 "$bundle_sha256" \
    -o examples/azure-sql-database/azure-pipelines.yml
"$bin/meshpipe" workflow render examples/webhook-jenkins-job/spec.yaml \
    -o examples/webhook-jenkins-job/receiver.py
"$bin/python" -m meshpipe._docs
