"""Start AutoTrain's web UI without the Hugging Face Hub.

This script runs INSIDE the AutoTrain environment (`.venv-autotrain/bin/python
autotrain_ui_offline.py --host 127.0.0.1 --port 8080`), so it imports only the
standard library, autotrain and autotrain's own dependencies (fastapi, uvicorn,
huggingface_hub) - never `wrapper`. It changes nothing on disk: AutoTrain's
installed files stay as they are, the patches below are applied to the imported
modules at run time, then uvicorn serves the patched app.

What AutoTrain 0.8.36 does with the Hub, and what we do instead (see
../shared/FACTS.md):

1. `autotrain.app.models.fetch_models()` calls `huggingface_hub.list_models` at
   import time and the app dies offline -> `list_models` returns nothing, so the
   model dropdowns hold only custom models (`AUTOTRAIN_CUSTOM_MODELS`) and
   whatever the user types.
2. Every `/ui/*` route depends on `user_authentication`, which verifies
   `HF_TOKEN` online (401 without it) -> a FastAPI dependency override returns
   no token, and the user list shown in the page is one local user
   (`--user`, default "local").
3. `/ui/create_project` calls `repo_exists(user/project)` on the Hub ->
   returns False.
4. `AppParams` forces `push_to_hub=True` on every job the UI starts -> forced to
   False, so a UI-started job never tries to push.

The server's working directory is where AutoTrain puts its projects
(`./<project_name>/`), `autotrain.db` and reads `autotrain.log`; the caller
(`wrapper.train.ui`) starts this script there with stdout/stderr going to
`autotrain.log`.
"""

from __future__ import annotations

import argparse
import os
import sys

#: printed once the patches are applied; tests and the supervisor look for it
PATCHED_MARKER = "autorerank: AutoTrain UI patched for offline use"


def _no_models(*args, **kwargs):
    return iter(())


def apply_offline_patches(user: str = "local"):
    """Patch AutoTrain's UI modules in memory; return the FastAPI app to serve."""
    # 1. model lists: patch before ui_routes runs fetch_models() at import time
    import autotrain.app.models as models

    models.list_models = _no_models

    # 2. token verification and the user list
    import autotrain.app.utils as utils

    def local_user_info(token=None):
        return {"id": user, "name": user, "orgs": []}

    def local_users(user_token=None):
        return [user]

    utils.token_verification = local_user_info
    utils.get_user_and_orgs = local_users

    # 4. never push a job started from the UI
    import autotrain.app.params as app_params

    original_munge = app_params.AppParams._munge_common_params
    if not getattr(original_munge, "_autorerank_no_push", False):

        def munge_without_push(self):
            params = original_munge(self)
            params["push_to_hub"] = False
            return params

        munge_without_push._autorerank_no_push = True
        app_params.AppParams._munge_common_params = munge_without_push

    import autotrain.app.ui_routes as ui_routes

    ui_routes.token_verification = local_user_info
    ui_routes.get_user_and_orgs = local_users
    # 3. no Hub repo can exist offline
    ui_routes.repo_exists = lambda *args, **kwargs: False

    from autotrain.app.app import app

    def local_authentication():
        return None  # no token: nothing downstream may reach the Hub

    app.dependency_overrides[ui_routes.user_authentication] = local_authentication
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--user", default="local", help="the local user name shown in the UI")
    args = parser.parse_args(argv)

    # The Hub is unreachable: fail fast instead of waiting on timeouts, and keep
    # any token out of this process (it could only leak into files or logs).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.pop("HF_TOKEN", None)
    os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
    # AutoTrain launches a bare `accelerate`: this environment's bin/ goes first.
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path

    app = apply_offline_patches(user=args.user)
    print(PATCHED_MARKER, flush=True)

    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, workers=1)
    return 0


def _drop_own_folder_from_path() -> None:
    """Run as a script, this folder is sys.path[0] - and it holds our `autotrain.py`
    (the training supervisor), which would shadow the real `autotrain` package."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]


if __name__ == "__main__":
    _drop_own_folder_from_path()
    sys.exit(main())
