"""Serve moto on one port, one request at a time.

moto does not apply concurrent DynamoDB transactions atomically, so every
request is served under one lock, response included. Connections are still
accepted and kept alive on threads: a single-threaded server speaks
HTTP/1.0, closes every connection and has a listen backlog of five, which
under parallel clients loses responses the SDK then retries (and a retried
conditional write fails against its own first attempt). The process exits
by itself when its parent dies, so no server outlives the program or test
binary that started it.

Patches keep moto's memory and time proportional to the data, and let the
local stack save only what changed (see patch_dynamodb and with_tables);
"stock" as the last argument leaves moto as it is, for the
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

# The account and region of the local stack's tables (moto's defaults, which
# the local stack's static credentials select).
ACCOUNT, REGION = "123456789012", "us-east-1"


def watch_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


# What the patches did, for /_workbench/stats.
counts = {"queriesNarrowed": 0, "queriesWhole": 0, "queryCandidates": 0, "readsDumped": 0, "transactionsReplayed": 0}


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

    bump = staticmethod(lambda name: None)

    def undo(self):
        for table, hash_value, range_value, before in reversed(self.items):
            self.bump(table.name)
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


def narrow_queries():
    """Make a Query read what it can match. moto's Table.query sorts every
    item of the table, walks them from the first to the ExclusiveStartKey,
    then filters them, on every call: each page of a Query into a plant's
    directory partition (~150k items) costs seconds, and paging through it
    costs the square. The patch hands moto's own query only the items it
    can visit: for the base table, the asked partition, sorted once per
    table version, cut by bisection to the items after the start key and
    within the key condition (plus the item after them, which moto looks at
    to decide on LastEvaluatedKey); for an index, the items whose index
    hash key matches, found once per table version. moto still sorts,
    skips, compares, filters, projects and pages what it is given; the
    predicates the bisection uses are moto's own."""
    import inspect

    from moto.dynamodb.models.table import Table

    stock = Table.query
    signature = inspect.signature(stock)

    def cached(table, key, build):
        # Any write to the table bumps its version (count_writes); the
        # cache lives on the table object, so a table made anew under the
        # same name starts empty.
        version = versions.get(table.name, 0)
        cache = getattr(table, "_workbench_queries", None)
        if cache is None or cache[0] != version:
            cache = (version, {})
            table._workbench_queries = cache
        if key not in cache[1]:
            cache[1][key] = build()
        return cache[1][key]

    def partition(table, hash_key):
        found = table.items.get(hash_key)
        if found is None:
            return []
        if not table.range_key_attr:
            return [found]
        # moto's own order for a partition (Table.query sorts by
        # range_key, whose < compares cast values), sorted by the cast
        # values themselves: moto's comparisons cost a property call each.
        return sorted(found.values(), key=lambda item: item.range_key.cast_value)

    def matching(table, conditions):
        rows = (p.values() if table.range_key_attr else (p,) for p in table.items.values())
        return [
            item
            for row in rows
            for item in row
            if all(item.attrs.get(name) is not None and item.attrs.get(name) == value for name, value in conditions)
        ]

    def query(self, hash_key, *args, **kwargs):
        call = signature.bind(self, hash_key, *args, **kwargs).arguments
        index_name = call.get("index_name")
        conditions = call.get("hash_key_conditions") or []
        if index_name is None and hash_key is not None:
            items = cached(self, ("", hash_key), lambda: partition(self, hash_key))
            candidates = window(self, items, hash_key, call)
        elif index_name is not None and conditions:
            key = (index_name, tuple((name, value.type, str(value.value)) for name, value in conditions))
            candidates = cached(self, key, lambda: matching(self, conditions))
        else:
            counts["queriesWhole"] += 1
            return stock(self, hash_key, *args, **kwargs)
        counts["queriesNarrowed"] += 1
        counts["queryCandidates"] += len(candidates)
        self.all_items = lambda: candidates
        try:
            return stock(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


# The largest item DynamoDB stores, and the size moto ends a page at.
MAX_ITEM, PAGE_BYTES = 400 * 1024, 1024 * 1024


def window(table, items, hash_key, call):
    """The part of a partition's sorted items that moto's query can visit,
    in ascending order (moto sorts it again, cheaply, and reverses it for a
    backward query)."""
    from bisect import bisect_left

    from moto.dynamodb.models.dynamo_type import DynamoType

    forward = call.get("scan_index_forward") is not False
    start, end = 0, len(items)
    esk = call.get("exclusive_start_key")
    if esk:
        if table.hash_key_attr not in esk or DynamoType(esk[table.hash_key_attr]) != hash_key:
            return items  # moto decides what a foreign start key means
        attrs = ([table.hash_key_attr], [table.range_key_attr])

        def skipped(item):
            return table._item_comes_before_dct(item, esk, *attrs, forward)

        # moto skips the items that come before or at the start key: a
        # prefix going forward, a suffix going backward.
        if forward:
            start = bisect_left(items, True, key=lambda item: not skipped(item))
        else:
            end = bisect_left(items, True, key=skipped)
    if call.get("filter_kwargs"):
        return items[start:end]  # a legacy QueryFilter counts every item it visits
    bounds = key_range(table, items, call)
    if bounds is None:
        return items[start:end]
    low, high = max(start, bounds[0]), min(end, bounds[1])
    # Every item of the region matches: a page of limit items ends at the
    # next one, which tells moto there is more.
    limit = call.get("limit")
    if limit is not None and high - low > limit:
        return items[low : low + limit + 1] if forward else items[high - limit - 1 : high]
    region = items[low:high]
    # Past the region, moto visits items that match nothing but end a full
    # page with a LastEvaluatedKey: the first of them when the page is full
    # by count, the biggest when it is nearly full by size.
    tail = items[high:end] if forward else items[start:low][::-1]
    if not tail:
        return region
    extra = [tail[0]]
    if region_bytes(region) + MAX_ITEM > PAGE_BYTES:
        extra.append(max(tail, key=lambda item: item.size()))
    return sorted(region + extra, key=lambda item: item.range_key.cast_value)


def region_bytes(region):
    """The size of region's items, counted up to where a page could end."""
    total = 0
    for item in region:
        total += item.size()
        if total + MAX_ITEM > PAGE_BYTES:
            break
    return total


# The sort key conditions of a Query, by the names moto gives them.
KEY_CONDITIONS = {
    "=": "EQ", "EQ": "EQ", "<": "LT", "LT": "LT", "<=": "LE", "LE": "LE", ">": "GT", "GT": "GT",
    ">=": "GE", "GE": "GE", "BETWEEN": "BETWEEN", "BEGINS_WITH": "BEGINS_WITH",
}


def key_range(table, items, call):
    """Where the items matching a Query's sort key condition lie in a
    partition's ascending items, found by bisection; None when the
    condition is not one of DynamoDB's on the table's sort key, or its
    values do not compare with the keys (moto then decides)."""
    from bisect import bisect_left

    from moto.dynamodb.comparisons import get_comparison_func

    comparison = call.get("range_comparison")
    if not comparison:
        return 0, len(items)
    op = KEY_CONDITIONS.get(comparison)
    names = [name for name, _, _ in call.get("range_key_conditions") or []]
    values = [v.cast_value for v in call.get("range_objs") or []]
    if op is None or not values or not table.range_key_attr or names not in ([], [table.range_key_attr]):
        return None
    matches = get_comparison_func(comparison)

    def below(item):
        # Before every match: less than the condition's lowest value.
        k = item.range_key.cast_value
        return op in ("EQ", "GE", "GT", "BETWEEN", "BEGINS_WITH") and (k < values[0] or (op == "GT" and k == values[0]))

    def above(item):
        # After every match: past the condition's highest value.
        k = item.range_key.cast_value
        if op in ("EQ", "LE", "LT"):
            return k > values[0] or (op == "LT" and k == values[0])
        if op == "BETWEEN":
            return k > values[1]
        if op == "BEGINS_WITH":
            return k >= values[0] and not matches(k, values[0])
        return False

    try:
        low = bisect_left(items, True, key=lambda item: not below(item))
        return low, bisect_left(items, True, lo=low, key=above)
    except TypeError:
        return None


# Writes per table name, so the local stack snapshots only the tables that
# changed since it last saved them.
versions = {}


def count_writes():
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def bump(name):
        versions[name] = versions.get(name, 0) + 1

    def on_table(method):
        def counted(self, *args, **kwargs):
            bump(self.name)
            return method(self, *args, **kwargs)

        return counted

    def on_update(method):
        def updated(self, table_name, *args, **kwargs):
            bump(table_name)
            try:
                item = method(self, table_name, *args, **kwargs)
            except Exception:
                encoded.tables.pop(table_name, None)  # whatever it changed
                raise
            encoded.changed.add(id(item))  # changed in place
            return item

        return updated

    Table.put_item = on_table(Table.put_item)
    Table.delete_item = on_table(Table.delete_item)
    DynamoDBBackend.update_item = on_update(DynamoDBBackend.update_item)
    _UndoLog.bump = staticmethod(bump)
    encoded.on = True


def honour_request_tokens():
    """Answer a TransactWriteItems sent again with the same
    ClientRequestToken within 10 minutes as DynamoDB does: with success, not
    by running it again. The SDK sets a token on every transaction and
    keeps it across its retries, so a transaction whose answer was lost
    after it committed is not cancelled by its own conditions when retried
    (stock moto ignores the token)."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    stock = DynamoHandler.transact_write_items
    window = 600
    done = {}  # token -> (request fingerprint, time)

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return stock(self)
        now = time.time()
        for t in [t for t, (_, at) in done.items() if now - at > window]:
            del done[t]
        fingerprint = json.dumps(self.body.get("TransactItems"), sort_keys=True)
        if token in done:
            if done[token][0] != fingerprint:
                raise DynamodbException(
                    ERROR_TYPE_PREFIX + "IdempotentParameterMismatchException",
                    "ClientRequestToken was used with another request",
                )
            counts["transactionsReplayed"] += 1
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = stock(self)
        done[token] = (fingerprint, now)
        return result

    DynamoHandler.transact_write_items = transact_write_items


def dump_reads():
    """Write the answers of DynamoDB's item reads (Query, Scan, GetItem,
    BatchGetItem) as moto's own JSON encoder does for the local stack's
    table dumps: moto's generic serializer walks the service model for
    every attribute of every item, ~90% of a 1,000-item Query page (2.5 s
    of a member export's page). The answer is the same JSON: items are
    DynamoDB JSON already, binary values go out as base64 and the
    operation's other fields are numbers, strings and keys."""
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    stock = DynamoHandler.serialized
    reads = {"Query", "Scan", "GetItem", "BatchGetItem"}

    def serialized(self, action_result):
        if type(action_result) is not DynamoResult or self._get_action() not in reads:
            return stock(self, action_result)
        counts["readsDumped"] += 1
        # The status and headers of an answer, from moto's serializer.
        status, headers, _ = stock(self, DynamoResult({}))
        return status, headers, dynamo_json_dump(action_result.result)

    DynamoHandler.serialized = serialized


def patch_dynamodb():
    import moto.dynamodbstreams.models  # noqa: F401 registers its models, to untrack them
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    untrack_dynamodb()
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBStreamsBackend.get_records = get_records
    narrow_queries()
    dump_reads()
    count_writes()
    honour_request_tokens()


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
        body = json.dumps(dict(counts, rssBytes=rss, tablesAlive=tables)).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


class _Encoded:
    """Each stored item's DynamoDB JSON, kept from one table dump to the
    next while the item is unchanged: the local stack dumps a written table
    a few seconds after each burst of writes, and a plant's directory
    (~330,000 items, 60 MB) took seconds to encode each time, all of it
    under the server's lock. An item written anew is a new object; one
    changed in place (UpdateItem) is marked by count_writes. Off (every
    item encoded each time) on a stock server, whose updates nobody marks."""

    def __init__(self):
        self.on = False
        self.tables = {}  # table name -> {id(item): (item, json)}
        self.changed = set()  # ids of items updated in place since their encoding

    def items(self, name, items):
        from moto.dynamodb.models.utilities import dynamo_json_dump

        def encode(item):
            # moto's own encoder: binary values as base64, as on the wire.
            return dynamo_json_dump(item.to_json()["Attributes"])

        if not self.on:
            return [encode(item) for item in items]
        before, kept = self.tables.get(name, {}), {}
        for item in items:
            known = before.get(id(item))
            # The entry holds its item, so its id is not reused while kept.
            if known is None or known[0] is not item or id(item) in self.changed:
                known = (item, encode(item))
            kept[id(item)] = known
        self.changed.difference_update(kept)
        self.tables[name] = kept
        return [json for _, json in kept.values()]


encoded = _Encoded()


def with_tables(app):
    """Serve GET /_workbench/versions (writes per table) and
    GET /_workbench/items?table=NAME (every item of a table, in DynamoDB
    JSON, with its version), for the local stack's snapshots: a Scan pages
    through moto's sorted copy of the whole table once per page."""
    from urllib.parse import parse_qs

    def serve(environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/_workbench/versions":
            body = json.dumps(versions).encode()
        elif path == "/_workbench/items":
            from moto.dynamodb.models import dynamodb_backends

            name = parse_qs(environ.get("QUERY_STRING", "")).get("table", [""])[0]
            backend = dynamodb_backends[ACCOUNT][REGION]
            if name not in backend.tables:
                start_response("404 Not Found", [("Content-Length", "0")])
                return [b""]
            table = backend.tables[name]
            rows = (p.values() if table.range_key_attr else (p,) for p in table.items.values())
            items = encoded.items(name, [item for row in rows for item in row])
            body = ('{"version": %d, "items": [%s]}' % (versions.get(name, 0), ", ".join(items))).encode()
        else:
            return app(environ, start_response)
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
    app = one_at_a_time(with_tables(with_stats(with_sms(DomainDispatcherApplication(create_backend_app)))))
    srv = make_server(host, port, app, threaded=True)
    print("moto ready on port %d" % srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
