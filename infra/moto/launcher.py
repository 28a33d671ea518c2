"""Serve moto on one port, one request at a time.

moto does not apply concurrent DynamoDB transactions atomically, so every
request is served under one lock, response included. Connections are still
accepted and kept alive on threads: a single-threaded server speaks
HTTP/1.0, closes every connection and has a listen backlog of five, which
under parallel clients loses responses the SDK then retries (and a retried
conditional write fails against its own first attempt). The process exits
by itself when its parent dies, so no server outlives the program or test
binary that started it.
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


def one_at_a_time(app):
    """Run app for one request at a time, reading the request and producing
    the whole response under a lock."""
    lock = threading.Lock()

    def serve(environ, start_response):
        with lock:
            started = []
            chunks = []

            def capture(status, headers, exc_info=None):
                started[:] = [status, headers, exc_info]
                return chunks.append

            result = app(environ, capture)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
        status, headers, exc_info = started
        start_response(status, headers, exc_info)
        return [b"".join(chunks)]

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

    # make_server rather than run_simple: no reloader or banner, and it
    # tells which port it bound.
    app = one_at_a_time(with_sms(DomainDispatcherApplication(create_backend_app)))
    srv = make_server(host, port, app, threaded=True)
    print("moto ready on port %d" % srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
