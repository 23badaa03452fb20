"""Start AutoTrain's web UI without the Hugging Face Hub.

This script runs INSIDE the AutoTrain environment (`.venv-autotrain/bin/python
wrapper/autotrain_ui/offline.py --host 127.0.0.1 --port 8080`), so it imports only the
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
5. The page's styles and tab switching come from CDNs -> a small stylesheet and
   script served by this app are linked into every HTML page (see OFFLINE_CSS).
6. Every task's default parameters say `mixed_precision: fp16`, which fails on a machine
   without a CUDA GPU -> `get_task_params` answers "none" there (`--cpu`, the default
   when torch sees no GPU).
7. `--task text-regression` makes the page open on that task (the reranker route:
   `autorerank ui --dataset` writes the pair CSVs it trains on).

The server's working directory is where AutoTrain puts its projects
(`./<project_name>/`), `autotrain.db` and reads `autotrain.log`; the caller
(`wrapper.autotrain_ui`) starts this script there with stdout/stderr going to
`autotrain.log`.
"""

from __future__ import annotations

import argparse
import os
import sys

#: printed to the log once the patches are applied (what a reader of autotrain.log sees)
PATCHED_MARKER = "autorerank: AutoTrain UI patched for offline use"


#: where the offline stylesheet is served, and the tag injected into AutoTrain's pages
OFFLINE_CSS_PATH = "/autorerank-offline.css"
OFFLINE_CSS_TAG = f'<link rel="stylesheet" href="{OFFLINE_CSS_PATH}" data-autorerank-offline>'
REMOTE_LOGO = "https://raw.githubusercontent.com/huggingface/autotrain-advanced/main/static/logo.png"
OFFLINE_JS_PATH = "/autorerank-offline.js"
OFFLINE_JS_TAG = f'<script src="{OFFLINE_JS_PATH}" data-autorerank-offline></script>'

# flowbite's script (from a CDN) switches the "Training Data / Validation Data"
# tabs; without it both upload areas stay hidden. This does the same, and only
# when flowbite did not load.
OFFLINE_JS = """
window.addEventListener('load', function () {
  var wanted = document.documentElement.getAttribute('data-autorerank-task');
  var select = document.getElementById('task');
  if (wanted && select && select.value !== wanted) {
    select.value = wanted;
    select.dispatchEvent(new Event('change'));
  }
  if (window.initTabs || window.Flowbite) { return; }
  document.querySelectorAll('[data-tabs-toggle]').forEach(function (list) {
    var tabs = list.querySelectorAll('[data-tabs-target]');
    function show(tab) {
      tabs.forEach(function (t) {
        var on = t === tab;
        var panel = document.querySelector(t.getAttribute('data-tabs-target'));
        if (panel) { panel.classList.toggle('hidden', !on); }
        t.setAttribute('aria-selected', on ? 'true' : 'false');
        t.classList.toggle('autorerank-active-tab', on);
      });
    }
    tabs.forEach(function (t) { t.addEventListener('click', function () { show(t); }); });
    if (tabs.length) { show(tabs[0]); }
  });
});
"""

# AutoTrain's page takes its styles from CDNs (tailwind, flowbite, font-awesome).
# In an air-gapped browser none load: every modal shows inline, icons are drawn
# page-wide and the layout collapses. This is the small subset of tailwind's
# utility classes that the page uses, enough to make it usable offline. Rules
# are plain class selectors, so when the CDN styles do load they agree with them.
OFFLINE_CSS = """
*, ::before, ::after { box-sizing: border-box; border: 0 solid #e5e7eb; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; }
svg { width: 1.25rem; height: 1.25rem; }
img { max-height: 1.75rem; }
ul { list-style: none; padding: 0; margin: 0; }
h1, h2, h3, p { margin: 0; }
button { cursor: pointer; font: inherit; background: transparent; }
input, select, textarea { font: inherit; }
textarea { width: 100%; }
a { color: inherit; text-decoration: none; }
.hidden { display: none !important; }
.block { display: block; } .flex { display: flex; } .inline-flex { display: inline-flex; }
.grid { display: grid; } .grid-cols-2 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.flex-col { flex-direction: column; } .items-center { align-items: center; }
.justify-center { justify-content: center; } .flex-shrink-0 { flex-shrink: 0; }
.gap-4 { gap: 1rem; } .space-y-2 > * + * { margin-top: .5rem; } .space-x-4 > * + * { margin-left: 1rem; }
.fixed { position: fixed; } .absolute { position: absolute; } .relative { position: relative; }
.inset-0 { top: 0; right: 0; bottom: 0; left: 0; } .top-0 { top: 0; } .left-0 { left: 0; } .right-0 { right: 0; }
.top-3 { top: .75rem; } .right-3 { right: .75rem; } .z-40 { z-index: 40; } .z-50 { z-index: 50; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0, 0, 0, 0); }
.w-full { width: 100%; } .h-full { height: 100%; } .w-64 { width: 16rem; } .h-screen { height: 100vh; }
.w-3, .h-3 { width: .75rem; height: .75rem; } .w-4 { width: 1rem; height: 1rem; } .w-5 { width: 1.25rem; height: 1.25rem; }
.w-6 { width: 1.5rem; height: 1.5rem; } .w-8 { width: 2rem; height: 2rem; } .h-24 { min-height: 6rem; }
.max-w-md { max-width: 28rem; } .max-w-5xl { max-width: 64rem; } .max-h-full { max-height: 100%; }
.overflow-y-auto { overflow-y: auto; }
.p-2 { padding: .5rem; } .p-4 { padding: 1rem; } .p-6 { padding: 1.5rem; } .px-2 { padding: 0 .5rem; }
.px-3 { padding-left: .75rem; padding-right: .75rem; } .px-4 { padding-left: 1rem; padding-right: 1rem; }
.py-2 { padding-top: .5rem; padding-bottom: .5rem; } .px-5 { padding-left: 1.25rem; padding-right: 1.25rem; }
.pt-4 { padding-top: 1rem; } .mt-1 { margin-top: .25rem; } .mt-2 { margin-top: .5rem; } .mt-4 { margin-top: 1rem; }
.mb-2 { margin-bottom: .5rem; } .mb-4 { margin-bottom: 1rem; } .mb-5 { margin-bottom: 1.25rem; } .ml-2 { margin-left: .5rem; }
.text-xs { font-size: .75rem; } .text-sm { font-size: .875rem; } .text-lg { font-size: 1.125rem; }
.text-xl { font-size: 1.25rem; } .font-medium { font-weight: 500; } .font-bold { font-weight: 700; }
.text-center { text-align: center; } .text-left { text-align: left; }
.text-white { color: #fff; } .text-gray-500 { color: #6b7280; } .text-gray-700 { color: #374151; }
.text-gray-800, .text-gray-900 { color: #1f2937; }
.bg-white { background: #fff; } .bg-gray-50 { background: #f9fafb; } .bg-gray-100 { background: #f3f4f6; }
.bg-gray-200 { background: #e5e7eb; } .bg-blue-600 { background: #2563eb; } .bg-red-600 { background: #dc2626; }
.bg-green-600 { background: #16a34a; } .bg-black.bg-opacity-50 { background: rgba(0, 0, 0, .5); }
.border { border-width: 1px; } .border-t { border-top-width: 1px; } .border-gray-300 { border-color: #d1d5db; }
.rounded, .rounded-md { border-radius: .375rem; } .rounded-lg { border-radius: .5rem; } .rounded-full { border-radius: 9999px; }
.shadow-sm { box-shadow: 0 1px 2px rgba(0, 0, 0, .05); } .shadow-2xl { box-shadow: 0 25px 50px -12px rgba(0, 0, 0, .25); }
.h-20 { min-height: 5rem; } .autorerank-active-tab { border-bottom: 2px solid #2563eb; color: #2563eb; }
label[for^="data_files_"] { display: flex; border: 2px dashed #d1d5db; border-radius: .5rem; padding: .75rem; }
#final-modal, #help-modal { top: 0; bottom: 0; background: rgba(0, 0, 0, .5); }
#final-modal:not(.hidden), #help-modal:not(.hidden) { display: flex; }
@media (min-width: 640px) { .sm\\:ml-64 { margin-left: 16rem; } .sm\\:hidden { display: none; } }
@media (max-width: 639px) { #separator-sidebar { position: static; width: 100%; height: auto; } }
"""


def cpu_safe(params: dict) -> dict:
    """Task parameters a machine without a CUDA GPU can train with (no fp16)."""
    if params.get("mixed_precision") in ("fp16", "bf16"):
        return {**params, "mixed_precision": "none"}
    return params


def add_offline_styles(app, task: str | None = None) -> None:
    """Serve OFFLINE_CSS / OFFLINE_JS and link them from every HTML page the app returns.

    Once per app: a second call adds nothing (Starlette refuses new middleware on an
    app that has started, and the routes would be registered twice).
    """
    from fastapi import Request
    from fastapi.responses import Response

    app.state.autorerank_task = task  # read per request: a second call may change it
    if getattr(app.state, "autorerank_offline_styles", False):
        return
    app.state.autorerank_offline_styles = True

    @app.get(OFFLINE_CSS_PATH, include_in_schema=False)
    async def offline_css():
        return Response(OFFLINE_CSS, media_type="text/css")

    @app.get(OFFLINE_JS_PATH, include_in_schema=False)
    async def offline_js():
        return Response(OFFLINE_JS, media_type="text/javascript")

    @app.middleware("http")
    async def link_offline_css(request: Request, call_next):
        response = await call_next(request)
        if not response.headers.get("content-type", "").startswith("text/html"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        wanted = getattr(app.state, "autorerank_task", None)
        if wanted and b"<html" in body and b"data-autorerank-task" not in body:
            body = body.replace(b"<html", f'<html data-autorerank-task="{wanted}"'.encode(), 1)
        if b"</head>" in body and OFFLINE_CSS_TAG.encode() not in body:
            body = body.replace(b"</head>", OFFLINE_CSS_TAG.encode() + b"</head>", 1)
            body = body.replace(b"</body>", OFFLINE_JS_TAG.encode() + b"</body>", 1)
            body = body.replace(REMOTE_LOGO.encode(), b"/static/logo.png")  # shipped with AutoTrain
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(body, status_code=response.status_code, headers=headers,
                        media_type=response.media_type)


def _no_models(*args, **kwargs):
    return iter(())


def apply_offline_patches(user: str = "local", *, cpu: bool = False, task: str | None = None):
    """Patch AutoTrain's UI modules in memory; return the FastAPI app to serve.

    Idempotent: calling it again (e.g. with another `user`) re-points the patches
    and returns the same app, without wrapping or registering anything twice.
    `cpu`: default parameters without fp16 (6.); `task`: the task the page opens on (7.).
    """
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

    # 6. parameters a CPU can train with
    if cpu and not getattr(app_params.get_task_params, "_autorerank_cpu", False):
        original_params = app_params.get_task_params

        def cpu_task_params(task_name, param_type):
            return cpu_safe(original_params(task_name, param_type))

        cpu_task_params._autorerank_cpu = True
        app_params.get_task_params = cpu_task_params

    import autotrain.app.ui_routes as ui_routes

    ui_routes.get_task_params = app_params.get_task_params
    ui_routes.token_verification = local_user_info
    ui_routes.get_user_and_orgs = local_users
    # 3. no Hub repo can exist offline
    ui_routes.repo_exists = lambda *args, **kwargs: False

    from autotrain.app.app import app

    def local_authentication():
        return None  # no token: nothing downstream may reach the Hub

    app.dependency_overrides[ui_routes.user_authentication] = local_authentication
    add_offline_styles(app, task)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--user", default="local", help="the local user name shown in the UI")
    parser.add_argument("--task", default=None, help="the task the page opens on (e.g. text-regression)")
    parser.add_argument("--cpu", action=argparse.BooleanOptionalAction, default=None,
                        help="default parameters without fp16 (default: when torch sees no CUDA GPU)")
    args = parser.parse_args(argv)
    if args.cpu is None:
        import torch

        args.cpu = not torch.cuda.is_available()

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

    app = apply_offline_patches(user=args.user, cpu=args.cpu, task=args.task)
    print(PATCHED_MARKER, flush=True)

    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, workers=1)
    return 0


def _drop_own_folder_from_path() -> None:
    """Run as a script, this folder is sys.path[0]: nothing in it may shadow the real `autotrain`
    package (or any other), so it leaves the path."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]


if __name__ == "__main__":
    _drop_own_folder_from_path()
    sys.exit(main())
