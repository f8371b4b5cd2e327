"""Local HTTP servers that speak providers' exact wire formats, with synthetic images and fault injection.

Used by the demo, by imagegate's own end-to-end tests and by users' CI. Today: OpenAI Images
(``/v1/images/*``). Images are synthetic (a seeded pattern labelled "imagegate sandbox"); token
usage follows the published rules. See docs/sandbox.md.

Public surface::

    SandboxConfig           settings (keys, legacy models, benchmark mode, limits)
    build_sandbox_app(cfg)  the Starlette ASGI app (state on app.state.sandbox)
    running_sandbox(cfg)    context manager: serve on a free port in a thread, yields the base URL
    SandboxServer(cfg)      the same as an object with start()/stop()
    run_sandbox(host, port, cfg)  serve in the foreground (CLI)
"""

from imagegate.sandbox.app import build_sandbox_app, sandbox_state
from imagegate.sandbox.config import SandboxConfig, SandboxState
from imagegate.sandbox.directives import DIRECTIVE_NAMES
from imagegate.sandbox.server import SandboxServer, run_sandbox, running_sandbox

__all__ = [
    "DIRECTIVE_NAMES",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "build_sandbox_app",
    "run_sandbox",
    "running_sandbox",
    "sandbox_state",
]
