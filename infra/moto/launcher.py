"""Serve moto on one port, one request at a time.

moto does not apply concurrent DynamoDB transactions atomically, so every
request is served under one lock, response included. Connections are still
accepted and kept alive on threads: a single-threaded server speaks
HTTP/1.0, closes every connection and has a listen backlog of five, which
under parallel clients loses responses the SDK then retries (and a retried
conditional write fails against its own first attempt). The process exits
by itself when its parent dies, so no server outlives the program or test
binary that started it.

Two patches keep moto's memory and time proportional to the data (see
patch_dynamodb); "stock" as the last argument leaves moto as it is, for the
tests that compare the two.
"""
import copy
import gc
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


class _Untracked(list):
    """An instance list that keeps nothing: moto's model metaclass appends
    every model ever made to a list on its class, for its dashboard, so
    every DynamoDB item, stream record and table copy would live as long as
    the server."""

    def append(self, _):
        pass


def untrack_dynamodb():
    from moto.core.model_instances import model_data

    # Removed from model_data too, so that moto's reset, which sets the
    # lists anew for every model it knows, does not bring tracking back.
    for service in ("dynamodb", "dynamodbstreams"):
        for cls in model_data.pop(service, {}).values():
            cls.instances_tracked = _Untracked()


class _UndoLog:
    """What a transaction changed, item by item, so that a cancelled one
    puts back exactly those items (and drops the stream records it wrote)
    instead of restoring a deep copy of every table it touched."""

    def __init__(self):
        self.items = []  # (table, hash, range, item before or None)
        self.streams = {}  # table name -> stream length before

    def note(self, table, key, before):
        from moto.dynamodb.models.dynamo_type import DynamoType

        if table.name not in self.streams:
            shard = table.stream_shard
            self.streams[table.name] = (table, len(shard.items) if shard else 0)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        # update_item changes the stored item in place: keep a copy.
        self.items.append((table, hash_value, range_value, copy.deepcopy(before)))

    def undo(self):
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before
            elif before is None:
                table.items[hash_value].pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before
        for table, length in self.streams.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]


def transact_write_items(self, transact_items):
    """moto's DynamoDBBackend.transact_write_items with an undo log in
    place of its whole-table backups: the same checks, order, errors and
    cancellation reasons."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import get_filter_expression

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _UndoLog()
    seen = set()
    reasons = []
    for entry in transact_items:
        if len(entry) > 1:
            undo.undo()
            raise TransactWriteSingleOpException
        returned = None
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)

            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            condition = op.get("ConditionExpression")
            current = self.get_item(table_name, key)
            if condition is not None:
                if not get_filter_expression(condition, names, values).expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        returned = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=returned)

            if op_type != "ConditionCheck":
                undo.note(self.get_table(table_name), key, current)
            conditions = dict(
                condition_expression=condition,
                expression_attribute_names=names,
                expression_attribute_values=values,
            )
            if op_type == "Put":
                self.put_item(table_name, op["Item"], **conditions)
            elif op_type == "Delete":
                self.delete_item(table_name, key, **conditions)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"], **conditions)
            reasons.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.undo()
            raise
        except ConditionalCheckFailed as e:
            reasons.append(("ConditionalCheckFailed", str(e.message), returned))
        except Exception as e:  # noqa: E722 moto reports any other failure as the item's reason
            reasons.append((type(e).__name__, str(e), returned))

    if any(code is not None for code, _, _ in reasons):
        undo.undo()
        raise TransactionCanceledException(reasons)


def get_records(self, iterator_arn, limit):
    """moto's DynamoDBStreamsBackend.get_records, forgetting the iterator it
    read from: moto keeps every shard iterator it ever made, and the local
    stream pollers make one per read (a few a second, ~1 MB a minute)."""
    return self.shard_iterators.pop(iterator_arn).get(limit)


def patch_dynamodb():
    import moto.dynamodbstreams.models  # noqa: F401 registers its models, to untrack them
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    untrack_dynamodb()
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBStreamsBackend.get_records = get_records


def with_stats(app):
    """Serve GET /_workbench/stats: the server's resident memory and how
    many DynamoDB tables are alive, for the tests that watch both."""

    def serve(environ, start_response):
        if environ.get("PATH_INFO") != "/_workbench/stats":
            return app(environ, start_response)
        from moto.dynamodb.models.table import Table

        gc.collect()
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        tables = sum(1 for o in gc.get_objects() if isinstance(o, Table))
        body = json.dumps({"rssBytes": rss, "tablesAlive": tables}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


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
    # Run as "python3 - workbench-moto HOST PORT PARENT_PID [stock]" with
    # this file on stdin; the label names the process in ps. The parent's
    # pid comes from the parent, so a parent dead before this line is
    # noticed too.
    host, port, parent = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    stock = sys.argv[5:] == ["stock"]
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

    if not stock:
        patch_dynamodb()
    # make_server rather than run_simple: no reloader or banner, and it
    # tells which port it bound.
    app = one_at_a_time(with_stats(with_sms(DomainDispatcherApplication(create_backend_app))))
    srv = make_server(host, port, app, threaded=True)
    print("moto ready on port %d" % srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
