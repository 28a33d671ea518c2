"""Serve moto on one port, one request at a time.

moto's threaded server does not apply concurrent DynamoDB transactions
atomically, so requests are served in order on a single thread. The process
exits by itself when its parent dies, so no server outlives the program or
test binary that started it.
"""
import json
import logging
import os
import sys
import threading
import time

# The exit status that tells the Go side moto is not installed.
MISSING = 3


def watch_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def with_sms(app):
    """Serve GET /_workbench/sms: the SMS published through SNS, oldest
    first. It is what /moto-api/data.json reports under sns.SMS, without
    serialising every other model of every test's tables on the way."""

    def serve(environ, start_response):
        if environ.get("PATH_INFO") != "/_workbench/sms":
            return app(environ, start_response)
        from moto.sns.models import SMS

        body = json.dumps(
            [
                {"message": m.message, "message_id": m.message_id, "phone_number": m.phone_number}
                for m in getattr(SMS, "instances_tracked", [])
            ]
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def main():
    # Run as "python3 - workbench-moto HOST PORT PARENT_PID" with this file
    # on stdin; the label names the process in ps. The parent's pid comes
    # from the parent, so a parent dead before this line is noticed too.
    host, port, parent = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    try:
        import moto
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError as e:
        print("moto is missing: %s" % e, file=sys.stderr)
        sys.exit(MISSING)
    if not moto.__version__.startswith("5."):
        print("moto is %s, not 5.x" % moto.__version__, file=sys.stderr)
        sys.exit(MISSING)

    # make_server rather than run_simple: the same single-threaded server,
    # without the reloader or banner, and it tells which port it bound.
    app = with_sms(DomainDispatcherApplication(create_backend_app))
    srv = make_server(host, port, app, threaded=False)
    print("moto ready on port %d" % srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
