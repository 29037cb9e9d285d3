"""Fill deploy/nginx.conf.in and check or run nginx with it (docs/deploy.md).

    python deploy/nginx.py render [--out FILE] [--system]
                                                 # write the config (stdout without --out);
                                                 # --system: for the distribution's nginx
                                                 # service (it daemonises; /run/nginx.pid)
    python deploy/nginx.py check                 # nginx -t on it
    python deploy/nginx.py run                   # nginx in the foreground (the Procfile)

Settings come from the environment, so the Procfile, a test and a production
install fill the same template:

    BROADSHEET_PORT       where nginx listens (8000; production: 80)
    BROADSHEET_HOST       the address it listens on (127.0.0.1; production: 0.0.0.0)
    BROADSHEET_UPSTREAMS  the gunicorn instances, space-separated host:port
                          (127.0.0.1:8001 127.0.0.1:8002)
    BROADSHEET_RUN_DIR    nginx's pid, logs and temp files (instance/run)
    BROADSHEET_ROOT       the checkout whose static/ is served (this one)
    MEDIA_DIR             stored pictures (instance/media), as the app reads it
    BROADSHEET_SERVER_NAME  the site's host name (_ : any)
    NGINX_USER            the user nginx's workers run as when started by root
                          (by default the owner of BROADSHEET_RUN_DIR)
    NGINX                 the nginx binary (nginx on PATH, else /usr/sbin/nginx)
    NGINX_CONF_DIR        where that nginx keeps mime.types (/etc/nginx)

Only the standard library: nginx may run where the app's virtualenv is not.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx.conf.in"
DEFAULT_UPSTREAMS = "127.0.0.1:8001 127.0.0.1:8002"


def settings(env: dict[str, str], *, system: bool = False) -> dict[str, str]:
    """The template's values, from ``env``; a clear error for a bad one.

    ``system``: for the distribution's service, which starts nginx with
    ``-g 'daemon on; master_process on;'`` (a second ``daemon`` line is an error) and
    stops it by ``/run/nginx.pid``; otherwise nginx stays in the foreground (honcho).
    """
    root = Path(env.get("BROADSHEET_ROOT") or HERE.parent).resolve()
    run_dir = Path(env.get("BROADSHEET_RUN_DIR") or root / "instance" / "run").resolve()
    port = env.get("BROADSHEET_PORT") or "8000"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"BROADSHEET_PORT must be a port number, not {port!r}")
    upstreams = (env.get("BROADSHEET_UPSTREAMS") or DEFAULT_UPSTREAMS).split()
    for upstream in upstreams:
        host, _, upstream_port = upstream.rpartition(":")
        if not host or not upstream_port.isdigit():
            raise SystemExit(f"BROADSHEET_UPSTREAMS: {upstream!r} is not host:port")
    user = env.get("NGINX_USER") or ""
    if not user and os.geteuid() == 0:
        # Started by root, nginx's workers would run as nobody, who cannot write the
        # run folder's temp files: they run as the folder's owner instead.
        run_dir.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwuid(run_dir.stat().st_uid).pw_name
    media = Path(env.get("MEDIA_DIR") or root / "instance" / "media").resolve()
    return {
        "USER": f"user {user};" if user else "",
        "DAEMON": "" if system else "daemon off;",
        "PID": "/run/nginx.pid" if system else str(run_dir / "nginx.pid"),
        "RUN_DIR": str(run_dir),
        "MIME_TYPES": str(_nginx_conf_dir(env) / "mime.types"),
        "UPSTREAMS": "\n".join(
            f"        server {u} max_fails=3 fail_timeout=5s;" for u in upstreams
        ),
        "LISTEN": f"{env.get('BROADSHEET_HOST') or '127.0.0.1'}:{port}",
        "SERVER_NAME": env.get("BROADSHEET_SERVER_NAME") or "_",
        "ROOT": str(root),
        "MEDIA_DIR": str(media),
    }


def _nginx_binary(env: dict[str, str]) -> str:
    """The nginx to run."""
    found = env.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx)")
    return found


def _nginx_conf_dir(env: dict[str, str]) -> Path:
    """Where the installed nginx keeps mime.types (Debian: /etc/nginx)."""
    return Path(env.get("NGINX_CONF_DIR") or "/etc/nginx")


def render(env: dict[str, str], *, system: bool = False) -> str:
    """The filled config."""
    text = TEMPLATE.read_text()
    for name, value in settings(env, system=system).items():
        text = text.replace(f"@{name}@", value)
    return text


def write(env: dict[str, str]) -> Path:
    """Write the filled config into the run folder (made, with its temp folders); its path."""
    run_dir = Path(settings(env)["RUN_DIR"])
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "nginx.conf"
    path.write_text(render(env))
    return path


def command(env: dict[str, str], *extra: str) -> list[str]:
    """The nginx command line for the written config."""
    path = write(env)
    # -e: the error log before the config is read, which by default is a root-only file.
    return [_nginx_binary(env), "-p", str(path.parent), "-e", "stderr", "-c", str(path), *extra]


def main(argv: list[str] | None = None) -> int:
    """Render, check or run nginx."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["render", "check", "run"])
    parser.add_argument("--out", help="render: write here instead of stdout")
    parser.add_argument(
        "--system", action="store_true", help="render: for the distribution's nginx service"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.action == "render":
        if args.out:
            Path(args.out).write_text(render(env, system=args.system))
        else:
            sys.stdout.write(render(env, system=args.system))
        return 0
    if args.action == "check":
        return subprocess.run(command(env, "-t"), check=False).returncode  # noqa: S603  (our own nginx line)
    cmd = command(env)
    os.execv(cmd[0], cmd)  # noqa: S606  (nginx in this process's place: honcho signals it)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
