"""The pywb process that ``prov replay`` starts: pywb 2.10's app (``FrontEndApp``) under
gevent's WSGI server, on the listening socket prov bound and passed down, as pywb's own
``wayback`` command runs it (``RequestURIWSGIHandler``).

    python -m provenance.replay.child FD CONFIG PARENT_PID

It ignores SIGINT (Ctrl-C reaches prov, which stops it with SIGTERM) and exits when its
parent is gone, so a killed prov leaves no server behind.
"""

from __future__ import annotations

import os
import signal
import sys

PARENT_CHECK = 0.5  # seconds between looks at whether prov is still there


class _Quiet:
    def write(self, text: str) -> None:
        pass


def main(argv: list[str]) -> None:
    # deferred: gevent patches the standard library before anything else loads
    from gevent import monkey

    monkey.patch_all()
    # deferred: after monkey.patch_all(); optional: pywb and gevent (the replay extra)
    import socket

    import gevent
    from gevent.pywsgi import WSGIServer
    from pywb.apps.frontendapp import FrontEndApp
    from pywb.utils.geventserver import RequestURIWSGIHandler

    fd, config, parent = int(argv[0]), argv[1], int(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    listener = socket.socket(fileno=fd)
    app = FrontEndApp(config_file=config)
    # pywb's own warcserver (on localhost, a port of its own) logs each lookup: quiet it
    app.warcserver_server.server.log = _Quiet()
    server = WSGIServer(listener, app, handler_class=RequestURIWSGIHandler, log=None)

    def watch_parent() -> None:
        while os.getppid() == parent:
            gevent.sleep(PARENT_CHECK)
        server.stop(timeout=1)

    server.start()  # before the watch can stop it
    gevent.spawn(watch_parent)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
