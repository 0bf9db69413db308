"""``convwise serve``: the explorer in the browser (a local web app; needs the ``web`` extra)."""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="the interactive explorer: convolution, pooling and networks in the browser",
        description="Start the explorer on http://HOST:PORT/ (a JSON API documented at /openapi.json and the page "
                    "that draws it). Stop it with Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--open", action="store_true", help="open the page in a web browser")
    parser.add_argument("--model", action="append", default=[], metavar="FILE",
                        help="also serve this model: a .json layer list, a .npz from 'convwise train' or an .onnx "
                             "graph (repeatable)")
    parser.set_defaults(func=run)


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"serve: --port must be in 0..65535, got --port={args.port}")
    import uvicorn

    from ..web import create_app

    app = create_app(args.model)  # bad model files fail here, before anything listens
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    if args.open:
        import threading
        import time
        import webbrowser

        def opener():
            while not server.started:
                time.sleep(0.05)
            webbrowser.open(f"http://{_shown_host(args.host)}:{_bound_port(server, args.port)}/")

        threading.Thread(target=opener, daemon=True).start()
    _announce(server, args)
    server.run()
    return 0


def _shown_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host


def _bound_port(server, port: int) -> int:
    for listener in getattr(server, "servers", []) or []:
        for sock in listener.sockets:
            return sock.getsockname()[1]
    return port


def _announce(server, args) -> None:
    import sys
    import threading
    import time

    def announce():
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        url = f"http://{_shown_host(args.host)}:{_bound_port(server, args.port)}/"
        sys.stderr.write(f"convwise explorer on {url} (API: {url}docs, Ctrl-C stops)\n")
        sys.stderr.flush()

    threading.Thread(target=announce, daemon=True).start()
