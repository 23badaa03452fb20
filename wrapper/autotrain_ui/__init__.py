"""AutoTrain's web UI as a supervised child process: start, wait until it answers, stop.

Two modes, chosen by `offline` (default, `decide_mode`: online when
`wrapper.settings.hub_reachable()` and `HF_TOKEN` is set, else offline):

- online:  `autotrain app --host H --port P` from the AutoTrain env - AutoTrain as is
           (it needs `HF_TOKEN` in the environment; we pass it through, never log it).
- offline: `python offline.py --host H --port P` (this package's launcher) with the AutoTrain env's
           python. That launcher patches AutoTrain in memory (no Hub model lists, a
           local user instead of token verification, no Hub repo check, push to Hub
           forced off) and serves the app; AutoTrain's installed files are untouched.

The child is a `wrapper.procs.Child` (its own process group) with the working folder (`runs/ui/` by
default) as its current directory: AutoTrain writes each project there as
`./<project_name>/` (final model at the top), plus `autotrain.db`. Its stdout and
stderr go to `<workdir>/autotrain.log` (offline; the file the UI's "Logs" panel
reads) or `<workdir>/autotrain-app.log` (online, where `autotrain app` writes
`autotrain.log` itself).

Library code: never prints, raises `InputError` / `RunFailed`.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from wrapper import procs, settings
from wrapper.errors import InputError, RunFailed

LAUNCHER = Path(__file__).with_name("offline.py")
DEFAULT_HOST = procs.LOCALHOST
DEFAULT_PORT = procs.DEFAULT_UI_PORT
DEFAULT_READY_TIMEOUT = 180.0
LOCAL_USER = "local"


def default_workdir() -> Path:
    """`<runs>/ui`: `$AUTORERANK_RUNS/ui`, else `runs/ui`."""
    return settings.runs_dir() / "ui"


def connect_host(host: str) -> str:
    """The address a local client uses to reach a server bound to `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def url_for(host: str, port: int) -> str:
    h = connect_host(host)
    if ":" in h:
        h = f"[{h}]"
    return f"http://{h}:{port}/"


def _env_executable(env_dir: Path, name: str) -> Path:
    exe = env_dir / "bin" / name
    if not exe.exists():
        raise InputError.at(
            exe,
            f"the AutoTrain environment has no `{name}` executable",
            hint="run `make setup` (creates .venv-autotrain), or point --autotrain-env / "
            "$AUTORERANK_AUTOTRAIN_ENV at a virtual environment with autotrain-advanced==0.8.36",
        )
    return exe


def build_command(
    *, host: str, port: int, offline: bool, autotrain_env: Path, user: str = LOCAL_USER, task: str | None = None
) -> list[str]:
    """The child's argv (a list, never a shell string). `task`: the task the offline page opens on."""
    if offline:
        python = _env_executable(autotrain_env, "python")
        return [str(python), str(LAUNCHER), "--host", host, "--port", str(port), "--user", user,
                *(["--task", task] if task else [])]
    autotrain = _env_executable(autotrain_env, "autotrain")
    return [str(autotrain), "app", "--host", host, "--port", str(port)]


def _bundled_model_or_none() -> str | None:
    try:
        return str(settings.bundled_model_path())
    except Exception:  # the bundled-model package is optional for the UI
        return None


def child_env(
    *, offline: bool, autotrain_env: Path, base: dict[str, str] | None = None, models: list[str] = ()
) -> dict[str, str]:
    """Environment for the UI server: AutoTrain env first on PATH, Hub off and no token offline.

    The bundled model's folder (and `models`, e.g. the base of `--dataset`) are offered in
    the UI's model list through AutoTrain's own `AUTOTRAIN_CUSTOM_MODELS` (kept if the user
    set it).
    """
    env = procs.child_env(base=base, venv=autotrain_env, offline=offline, drop_tokens=offline)
    custom = [m.strip() for m in env.get("AUTOTRAIN_CUSTOM_MODELS", "").split(",") if m.strip()]
    for model in [*models, _bundled_model_or_none()]:
        if model and model not in custom:
            custom.append(model)
    if custom:
        env["AUTOTRAIN_CUSTOM_MODELS"] = ",".join(custom)
    return env


def decide_mode(offline: bool | None, env: dict[str, str] | None = None) -> tuple[bool, str]:
    """(offline?, why). Auto: online only when the Hub answers AND `HF_TOKEN` is set -
    AutoTrain's UI answers every page with 401 without a token, so it would be useless."""
    env = os.environ if env is None else env
    has_token = bool(env.get("HF_TOKEN")) or "SPACE_ID" in env
    if offline is True:
        return True, "--offline"
    if offline is False:
        if not has_token:
            raise InputError.at(
                "HF_TOKEN",
                "not set: AutoTrain's online UI verifies a Hugging Face write token on every page",
                hint="export HF_TOKEN=hf_... (a write token), or run `autorerank ui --offline` "
                "to train locally without the Hub",
            )
        return False, "--online"
    if not has_token:
        return True, "no HF_TOKEN"
    if not settings.hub_reachable():
        return True, "Hugging Face Hub unreachable"
    return False, "Hub reachable, HF_TOKEN set"


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    # tqdm redraws with \r: keep the last state of each line
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    kept = [line for line in kept if line.strip()]
    return "\n".join(kept[-lines:]) or "(empty log)"


#: talks to the local server directly, whatever http_proxy/https_proxy say
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str, timeout: float = 2.0) -> bool:
    """True once an HTTP server answers at `url` (any status, 401 included)."""
    try:
        with _DIRECT.open(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class UIServer:
    """A running AutoTrain UI child. Use `stop()` (or a `with` block) to end it."""

    child: procs.Child
    url: str
    host: str
    port: int
    workdir: Path
    log_path: Path
    offline: bool
    command: list[str] = field(repr=False, default_factory=list)
    why: str = ""  # why this mode was chosen, for the summary line

    @property
    def pid(self) -> int:
        return self.child.pid

    def running(self) -> bool:
        return self.child.running()

    def wait(self, timeout: float | None = None) -> int:
        """Block until the child exits on its own; return its exit code."""
        return self.child.wait(timeout=timeout)

    def processes(self) -> list:
        """The child and its live descendants (training jobs included), as psutil objects.

        Finished trainings stay zombies under AutoTrain's server (it never reaps
        them); they are dead already and left out.
        """
        import psutil

        try:
            root = psutil.Process(self.child.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        live = []
        for proc in procs:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    live.append(proc)
            except psutil.Error:
                pass
        return live

    def stop(self, grace: float = procs.GRACE_SECONDS) -> int | None:
        """Stop the server and every process it started (`procs.stop_tree`: SIGTERM, then
        SIGKILL after `grace` s; `autotrain app` starts uvicorn in a session of its own,
        which the sweep of descendants reaches). Returns the child's exit code."""
        return self.child.stop(grace=grace)

    def __enter__(self) -> "UIServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until_ready(server: UIServer, timeout: float = DEFAULT_READY_TIMEOUT, poll: float = 0.5) -> None:
    """Poll the server's URL until it answers; RunFailed if the child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        code = server.child.exit_code
        if code is not None:
            raise RunFailed(
                f"AutoTrain's UI exited (code {code}) before it answered at {server.url}"
                + (" - AutoTrain exits 0 even when it fails" if code == 0 else "")
                + f"\n  log: {server.log_path}\n"
                + _indent(log_tail(server.log_path))
                + (
                    "\n  hint: without the Hugging Face Hub, run `autorerank ui --offline`"
                    if not server.offline
                    else ""
                )
            )
        if answers(server.url):
            return
        if time.monotonic() >= deadline:
            server.stop()
            raise RunFailed(
                f"AutoTrain's UI did not answer at {server.url} within {timeout:.0f} s; stopped it."
                f"\n  log: {server.log_path}\n" + _indent(log_tail(server.log_path))
                + "\n  hint: on a busy machine pass a longer --timeout"
            )
        time.sleep(poll)


def _indent(text: str) -> str:
    return "\n".join("  | " + line for line in text.splitlines())


def start(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workdir: str | os.PathLike | None = None,
    offline: bool | None = None,
    autotrain_env: str | os.PathLike | None = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    user: str = LOCAL_USER,
    task: str | None = None,
    models: list[str] = (),
) -> UIServer:
    """Start AutoTrain's UI and return once it answers HTTP at `server.url`.

    `offline=None` decides by `decide_mode` (online needs the Hub and `HF_TOKEN`).
    Raises `InputError` for a busy port, a missing AutoTrain env or `--online`
    without a token, `RunFailed` if the UI exits early or does
    not answer within `ready_timeout` seconds (with the tail of its log).
    """
    procs.check_port(None, port, where=f"--host {host} --port {port}")
    env_dir = Path(settings.autotrain_env_dir(autotrain_env)).absolute()
    offline, why = decide_mode(offline)
    command = build_command(host=host, port=port, offline=offline, autotrain_env=env_dir, user=user, task=task)
    procs.check_port(host, port, where=f"--host {host} --port {port}")

    work = Path(workdir) if workdir else default_workdir()
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.at(work, f"cannot create the working folder ({exc.strerror})",
                            hint="pass a writable --workdir") from None
    work = work.resolve()
    log_path = work / ("autotrain.log" if offline else "autotrain-app.log")

    # its own session: Ctrl-C reaches us only; we stop the whole tree
    child = procs.Child(command, cwd=work, env=child_env(offline=offline, autotrain_env=env_dir, models=list(models)),
                        log=log_path)
    server = UIServer(child=child, url=url_for(host, port), host=host, port=port, workdir=work,
                      log_path=log_path, offline=offline, command=command, why=why)
    try:
        wait_until_ready(server, timeout=ready_timeout)
    except BaseException:
        server.stop(grace=5)
        raise
    return server


def reranker_pairs(dataset_dir: str | os.PathLike, base_model: str, workdir: Path, *,
                   trust_remote_code: bool = False) -> tuple[Path, dict]:
    """The Text Regression task's data for the reranker route: `<workdir>/pairs/<dataset>/train.csv` and
    `validation.csv` (columns text, target) of `dataset_dir`, joined and targeted for `base_model` as
    `autorerank train` does (anchored on a reranker base's logits, 0/1 for a fresh head). Returns the
    folder and the summary."""
    from wrapper import basemodel
    from wrapper.config.route import check_remote_code
    from wrapper.config.schema import PairsSection
    from wrapper.dataset import Dataset
    from wrapper.train.autotrain_reranker import write_pairs

    dataset = Dataset.open(dataset_dir, training=True)
    base = basemodel.inspect(base_model)
    check_remote_code(base, trust_remote_code)
    pair = basemodel.pair_input(base, trust_remote_code=trust_remote_code)
    if pair.separator is None:
        raise InputError.at("--base-model", f"AutoTrain's Text Regression reads one text, and {pair.why}",
                            hint="train this base with `autorerank config --task cross-encoder:mnrl` instead")
    section = PairsSection(separator=pair.separator, exact=pair.exact,
                           targets="anchored" if base.is_reranker else "binary")
    folder = Path(workdir) / "pairs" / dataset.root.name
    summary = write_pairs(dataset, folder, section, base_model=base.ref, max_length=min(base.max_positions or 256, 256),
                          valid_split="validation" if "validation" in dataset.splits else None,
                          trust_remote_code=trust_remote_code)
    return folder, {**summary, "base_model": base.ref, "note": pair.why}
