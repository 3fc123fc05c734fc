"""``meshpipe run ...``: a thin command layer over :class:`meshpipe.report.Run`.

Exit codes: 0 success; 1 an API or user error (one line on stderr, mapped by :func:`meshpipe.cli.main`); 2 a usage
error; ``exec`` returns its command's exit code. Tokens come only from the environment or files, never from flags.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from meshpipe.report.ci import runner_for_environment
from meshpipe.report.errors import ConnectionFailed, RateLimitError, ReporterError, ServerError
from meshpipe.report.job_status import JOB_STATUSES, read_job_status, run_status_of
from meshpipe.report.model import STEP_STATUSES, TERMINAL_STATUSES, parse_output_flag, parse_outputs_json
from meshpipe.report.run import Run
from meshpipe.report.settings import Settings

__all__ = ["JOB_STATUSES", "run"]

F = TypeVar("F", bound=Callable[..., Any])


def _common_options(func: F) -> F:
    func = click.option(
        "--allow-foreign-run-url",
        is_flag=True,
        help=(
            "Send credentials to a run URL on another origin than MESHSTACK_ENDPOINT"
            " (also MESHPIPE_ALLOW_FOREIGN_RUN_URL=true). Off by default: the run URL is a workflow input."
        ),
    )(func)
    func = click.option(
        "--source-id",
        metavar="ID",
        help=(
            "The source id to report as (also MESHSTACK_SOURCE_ID); default: the one registered, else github,"
            " gitlab or azure-pipelines after the CI."
        ),
    )(func)
    func = click.option(
        "--best-effort",
        is_flag=True,
        help="If meshStack cannot be reached after the retries, warn and exit 0 instead of failing the step.",
    )(func)
    func = click.option(
        "--run-b64",
        metavar="BASE64",
        help=(
            "The run object, base64 (meshStack's buildingBlockRun). It can carry decrypted inputs and other"
            " processes can read argv: prefer MESHSTACK_RUN_B64 or the workflow input."
        ),
    )(func)
    func = click.option("--run-url", metavar="URL", help="The run URL (meshStack's buildingBlockRunUrl).")(func)
    func = click.option(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help=(
            "The time budget of all this command's requests and retries (also MESHPIPE_DEADLINE_SECONDS; 0: none)."
            " Default: none, except 240 s for finish on GitLab CI (after_script is stopped after 5 minutes)."
        ),
    )(func)
    return func


class _BestEffortGuard:
    """The ``--best-effort`` guard: 'meshStack unreachable' becomes a warning; every other failure is annotated.

    ``environ`` is consulted (through :mod:`meshpipe.report.ci`) only when the run could not be opened, to know
    which CI's annotation to write.
    """

    def __init__(self, best_effort: bool, run: Run | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.best_effort = best_effort
        self.run = run
        self.environ = environ

    def __enter__(self) -> _BestEffortGuard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if not isinstance(exc, ReporterError):
            return False
        runner = self.run.runner if self.run else runner_for_environment(self.environ or {})
        # meshpipe.cli.main prints the message; it can quote meshStack's answer, and Azure's agent obeys ##vso[ in it.
        printable = runner.printable(str(exc))
        if printable != str(exc):
            exc.args = (printable,)
        if self.best_effort and isinstance(exc, (ConnectionFailed, ServerError, RateLimitError)):
            runner.warning(f"meshStack could not be reached, continuing (--best-effort): {exc}")
            return True
        runner.error(str(exc))
        return False


def _command(func: F) -> F:
    """Open the run from the common options and apply --best-effort around the command body."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        run_url: str | None,
        run_b64: str | None,
        best_effort: bool,
        source_id: str | None,
        allow_foreign_run_url: bool,
        deadline: float | None,
        **kwargs: Any,
    ) -> Any:
        guard = _BestEffortGuard(best_effort, environ=os.environ)
        with guard:
            settings = Settings.from_env(
                os.environ,
                run_url=run_url,
                run_b64=run_b64,
                source_id=source_id,
                allow_foreign_run_url=allow_foreign_run_url,
                deadline=deadline,
                command=click.get_current_context().info_name,
            )
            guard.run = Run(settings)
            return func(guard.run, *args, **kwargs)
        return None

    return _common_options(wrapper)  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def run() -> None:
    """Report a building block run's steps and status to meshStack, from GitHub Actions, GitLab CI, Azure
    Pipelines or anywhere else.

    The run comes from --run-url, MESHSTACK_RUN_URL, buildingBlockRunUrl as the CI passes it (GitHub: workflow
    input; GitLab: CI/CD variable; Azure Pipelines: variable, BUILDINGBLOCKRUNURL), a base64 run object (--run-b64,
    MESHSTACK_RUN_B64, input buildingBlockRun) or the state an earlier step left in $MESHPIPE_STATE_DIR or the
    job's temp directory ($RUNNER_TEMP, $AGENT_TEMPDIRECTORY, GitLab: $RUNNER_TEMP_PROJECT_DIR). Credentials, from
    the environment only (GitLab: masked variables; Azure: secrets mapped with env:): MESHSTACK_RUN_TOKEN,
    MESHSTACK_API_TOKEN, MESHSTACK_CLIENT_ID + MESHSTACK_CLIENT_SECRET, or the token file meshstack_token.json in
    the job's temp directory; they are sent only to MESHSTACK_ENDPOINT (else the run URL's origin).
    MESHPIPE_REDACT_VARIABLES: a comma-separated list of more environment variables whose values are secrets,
    replaced by *** in every message meshpipe sends or prints (as the credentials are).
    MESHPIPE_DEADLINE_SECONDS (or --deadline): the time budget of one command's requests and retries together;
    none by default, except 240 s for finish on GitLab CI, whose after_script is stopped after 5 minutes.

    \b
    Example:
      meshpipe run register --step plan="Terraform plan" --step apply="Terraform apply"
      meshpipe run exec plan -- terraform plan
      meshpipe run finish --job-status success            # GitHub: ${{ job.status }}
      meshpipe run finish --job-status "$CI_JOB_STATUS"   # GitLab, in after_script
      meshpipe run finish --job-status auto               # GitLab or Azure Pipelines
    """


@run.command()
@click.option("--step", "steps", multiple=True, metavar="ID=NAME", help="A step in display order (repeatable).")
@_command
def register(current: Run, *, steps: tuple[str, ...]) -> None:
    """Register this pipeline as a source of the run, with its steps (PENDING). Registering twice is fine.

    \b
    Example:
      meshpipe run register --step plan="Terraform plan" --step apply="Terraform apply"
    """
    specs = []
    for flag in steps:
        step_id, _, name = flag.partition("=")
        if not step_id:
            raise click.BadParameter(f"{flag!r}: expected ID=Display name", param_hint="--step")
        specs.append((step_id, name or step_id))
    current.register(specs)
    current.runner.info(f"meshpipe: registered source {current.source_id!r} with {len(specs)} step(s) on {current.url}")


@run.command()
@click.argument("step_id", metavar="ID")
@click.option("--status", type=click.Choice(STEP_STATUSES), required=True, help="The step's new status.")
@click.option("--user-message", help="Shown to the consuming workspace (capped at 500 characters).")
@click.option("--system-message", help="Shown to the platform team only (the tail is kept if long).")
@click.option("--output", "outputs", multiple=True, metavar="NAME=VALUE[:TYPE]", help="A step output (repeatable).")
@click.option(
    "--outputs-json",
    metavar="JSON",
    help='Outputs as a JSON object: {"name": value} or {"name": {"value": v, "type": "INTEGER"}}.',
)
@click.option("--display-name", help="The step's display name (for steps that were not registered).")
@_command
def step(
    current: Run,
    step_id: str,
    *,
    status: str,
    user_message: str | None,
    system_message: str | None,
    outputs: tuple[str, ...],
    outputs_json: str | None,
    display_name: str | None,
) -> None:
    """Report one step's status, messages and outputs. TYPE is STRING (default), CODE, INTEGER or BOOLEAN.

    \b
    Example:
      meshpipe run step apply --status SUCCEEDED --user-message "Bucket created" \\
        --output bucket_url=https://console.example.com/s3/b --output replicas=3:INTEGER
    """
    parsed = parse_outputs_json(outputs_json) if outputs_json else {}
    parsed.update(parse_output_flag(flag) for flag in outputs)
    aborted = current.report_step(
        step_id,
        status=status,
        user_message=user_message,
        system_message=system_message,
        outputs=parsed or None,
        display_name=display_name,
    )
    extra = f" with {len(parsed)} output(s)" if parsed else ""
    current.runner.info(f"meshpipe: step {step_id!r} of source {current.source_id!r} is {status}{extra}")
    if aborted:
        current.runner.warning("meshStack reports the run as aborted; stop the pipeline's work")


@run.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("step_id", metavar="ID")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--user-message", help="User message when the command succeeds (default: '<step> succeeded').")
@click.option("--failure-message", help="User message when the command fails (default names the exit code).")
@click.option("--display-name", help="The step's display name (for steps that were not registered).")
@_command
def exec_(
    current: Run,
    step_id: str,
    command: tuple[str, ...],
    *,
    user_message: str | None,
    failure_message: str | None,
    display_name: str | None,
) -> None:
    """Run COMMAND as step ID: IN_PROGRESS, then SUCCEEDED or FAILED with the output's tail as system message.

    The output streams live. Exits with COMMAND's exit code. On SIGTERM or SIGINT (a cancelled workflow) the signal
    goes to COMMAND, the step and the run are reported ABORTED, and the exit code is 128 + the signal number.

    \b
    Example:
      meshpipe run exec apply --user-message "Bucket created" -- terraform apply -auto-approve
    """
    from meshpipe.report._exec import exec_step

    argv = list(command[1:] if command[:1] == ("--",) else command)
    if not argv:
        raise click.UsageError("no command given after --")
    code = exec_step(
        current,
        step_id,
        argv,
        user_message=user_message,
        failure_message=failure_message,
        display_name=display_name,
        guard=lambda: _BestEffortGuard(click.get_current_context().params["best_effort"], current),
    )
    # meshpipe.cli.main runs click without standalone mode: click then returns this code, and main exits with it.
    click.get_current_context().exit(code)


@run.command()
@click.option("--status", type=click.Choice(sorted(TERMINAL_STATUSES)), help="The terminal run status.")
@click.option(
    "--job-status",
    metavar="STATUS",
    help=(
        "The CI's job status: GitHub ${{ job.status }} (success, failure, cancelled), GitLab $CI_JOB_STATUS"
        " (success, failed, timedout, canceled), Azure Pipelines $(Agent.JobStatus) (Succeeded,"
        " SucceededWithIssues, Failed, Canceled, Skipped), or auto (read CI_JOB_STATUS / AGENT_JOBSTATUS) ->"
        " SUCCEEDED, FAILED or ABORTED; any other status is FAILED, with a warning."
    ),
)
@_command
def finish(current: Run, *, status: str | None, job_status: str | None) -> None:
    """Send the run's terminal status, exactly once, and write the summary (step summary, Azure Pipelines
    summary tab; printed on GitLab).

    With --job-status (for a step that always runs: `if: always()`, GitLab's after_script, Azure's
    `condition: always()`) a run that an earlier step already finished is left alone; with --status a second
    terminal status is an error.

    \b
    Example:
      meshpipe run finish --job-status ${{ job.status }}      # GitHub Actions
      meshpipe run finish --job-status "$CI_JOB_STATUS"       # GitLab CI after_script
      meshpipe run finish --job-status "$(Agent.JobStatus)"   # Azure Pipelines
    """
    if (status is None) == (job_status is None):
        raise click.UsageError("give exactly one of --status and --job-status")
    if job_status is not None:
        try:
            known = read_job_status(job_status, current.settings.ci, os.environ)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--job-status") from None
        status = run_status_of(known)
        if known not in JOB_STATUSES:
            current.runner.warning(f"job status {known!r} is not one meshpipe knows; the run finishes {status}")
    assert status is not None
    # Checked under the job's terminal lock: a parallel `finish` of the same job cannot send a second status.
    if not current.finish(status, skip_if_finished=job_status is not None):
        current.runner.info(f"meshpipe: the run already finished with {current.terminal_status}; nothing to send")
        return
    current.runner.info(f"meshpipe: run {current.url} finished with {status}")


@run.command()
@click.option(
    "--ci-output",
    "--github-output",
    "ci_output",
    is_flag=True,
    help=(
        "Also write behavior, run_url and every input as outputs in the CI's form: $GITHUB_OUTPUT; Azure output"
        " variables (sensitive ones secret); GitLab: the dotenv file $MESHPIPE_DOTENV_FILE (no sensitive ones)."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@_command
def show(current: Run, *, ci_output: bool, as_json: bool) -> None:
    """Show the run: URL, behavior and inputs (sensitive values hidden).

    \b
    Example:
      meshpipe run show --ci-output
    """
    runner = current.runner
    runner.commands_to_stderr = as_json
    obj = current.object
    visible = {k: ("(sensitive)" if i.is_sensitive else i.value) for k, i in obj.inputs.items()}
    steps = [(s.id, s.display_name, s.status) for s in current.state.steps]
    if as_json:
        document: dict[str, Any] = {"run_url": obj.url, "uuid": obj.uuid, "behavior": obj.behavior}
        document["status"] = obj.status
        reported = [{"id": i, "displayName": n, "status": st} for i, n, st in steps]
        document.update(source=current.source_id, terminal_status=current.terminal_status)
        runner.info(json.dumps({**document, "inputs": visible, "steps": reported}, indent=2, sort_keys=True))
    else:
        runner.info(f"run:      {obj.url}\nbehavior: {obj.behavior}\nstatus:   {obj.status or '-'}")
        for key, value in visible.items():
            runner.info(f"input:    {_one_line(key)} = {_one_line(value)}")
        if steps:
            runner.info(f"source:   {_one_line(current.source_id)} (steps as reported from this job)")
        for step_id, name, status in steps:
            runner.info(f"step:     {_one_line(step_id)} ({_one_line(name)}) {status}")
    if ci_output:
        values = {"behavior": obj.behavior, "run_url": runner.url_output(obj.url)}
        sensitive = set()
        for key, item in obj.inputs.items():
            why = "would replace a built-in output" if key in values else runner.output_name_problem(key)
            if why:
                runner.warning(f"input {json.dumps(key)} {why}; not written to {runner.outputs_label}")
                continue
            if item.is_sensitive:
                if not runner.outputs_hold_secrets:
                    runner.skip_sensitive_output(key)  # printed or in an artifact, it could not be masked
                    continue
                current.mask(item.as_text())
                sensitive.add(key)
            values[key] = item.as_text()
        for key, value in values.items():
            runner.set_output(key, value, sensitive=key in sensitive)


def _one_line(value: Any) -> str:
    """A string as it is when it fits on one line, anything else as JSON.

    Inputs are typed by the consuming workspace, and a runner obeys every stdout line that starts with ``::``: a
    line break inside a printed value must not start a workflow command.
    """
    if isinstance(value, str) and value.splitlines() in ([value], []):
        return value
    return json.dumps(value)
