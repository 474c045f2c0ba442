"""The DynamoDB history store on moto (issue 9, item 2; seed Req 5, 7.5, 9.4, 9.5, P29).

The port's contract runs on it in test_store_contract.py; here is what is DynamoDB's own:
``drsorch store init``, a missing or foreign table (exit 2), throttling retried at 2/4/8 s
on the virtual clock then a clear error (Property 29), no item near 400 KB at 10 000
servers, two writers, a crash between the parts and the head, and ``history``, ``show``
and ``resume`` unchanged on a ``dynamodb://`` URL (the engine's own saves run on it in the
contract suite). Everything is in process (``moto.mock_aws``): no server, no socket, no
real AWS.

Measured by ``test_a_10000_server_record_and_state_fit_in_items_under_400_kb`` (printed
with ``-s``): 100 waves x 100 servers, record and final engine state (~5 MB of JSON):
see :mod:`drsorch.store.dynamodb_layout` for the figures.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from tests.utils.dynamo import REGION, TABLE, URL, dynamo_client, dynamo_store, fail_next
from tests.utils.engine import SHORT
from tests.utils.history import make_record, make_records
from tests.utils.plans import make_plan

import drsorch.store.dynamodb as dynamodb_module
import drsorch.store.dynamodb_layout as dynamodb_layout
from drsorch.cli import EXIT_BAD_INPUT, EXIT_OK, main
from drsorch.cli.render import record_json
from drsorch.clock import DEFAULT_EPOCH, VirtualClock
from drsorch.core import new_execution, to_record
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import LeaseLostError, StoreDamagedError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.ownership import DEFAULT_LEASE_SECONDS
from drsorch.plan import parse_plan
from drsorch.runner import Runner
from drsorch.store import StoreConfigError, open_store
from drsorch.store.base import Damaged, Lease
from drsorch.store.dynamodb import DynamoStore
from drsorch.store.dynamodb_layout import MAX_ITEM_BYTES, item_size
from drsorch.wiring import simulated

pytestmark = pytest.mark.integration


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def store(aws: None) -> Iterator[DynamoStore]:
    made = dynamo_store()
    yield made
    made.close()


@pytest.fixture
def fast_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stores a command opens get their client from the tests' one boto3 session (a
    session of their own would load botocore's models again, 0.2 s each)."""
    monkeypatch.setattr(dynamodb_module, "make_client", lambda url: dynamo_client())


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    return result


def items(**scan: Any) -> list[dict[str, Any]]:
    """Every item of the table, as DynamoDB holds it."""
    found: list[dict[str, Any]] = []
    for page in dynamo_client().get_paginator("scan").paginate(TableName=TABLE, **scan):
        found += page["Items"]
    return found


def keys() -> set[tuple[str, str]]:
    return {(i["pk"]["S"], i["sk"]["S"]) for i in items(ProjectionExpression="pk, sk")}


# -- drsorch store init -------------------------------------------------------------------


def test_store_init_creates_the_table_once_and_then_says_it_is_ready(aws: None) -> None:
    first = cli("store", "init", URL)
    assert first.exit_code == EXIT_OK, first.stderr
    assert f"created DynamoDB table {TABLE}" in first.stdout
    client = dynamo_client()
    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_plan", "by_status", "running", "by_id"}
    assert [k["AttributeName"] for k in indexes["by_plan"]["KeySchema"]] == [
        "plan_id",
        "start_time",
    ]
    backups = client.describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    again = cli("store", "init", env={"DRSORCH_STORE": URL})  # the variable works the same
    assert again.exit_code == EXIT_OK, again.stderr
    assert "already exists with the right schema" in again.stdout


def test_store_init_turns_point_in_time_recovery_on_for_a_ready_table(
    aws: None, fast_clients: None
) -> None:
    from drsorch.store.dynamodb_layout import table_definition

    dynamo_client().create_table(**table_definition(TABLE))
    result = cli("store", "init", URL)
    assert result.exit_code == EXIT_OK, result.stderr
    assert "point-in-time recovery was off and is now on" in result.stdout


def test_store_init_refuses_a_table_with_another_schema_naming_the_difference(
    aws: None, fast_clients: None
) -> None:
    dynamo_client().create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    result = cli("store", "init", URL)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "exists with another schema" in result.stderr
    assert "its key is (id HASH); drsorch needs (pk HASH, sk RANGE)" in result.stderr
    assert "no index by_plan" in result.stderr
    shown = cli("history", "--store", URL)  # and no command uses it
    assert shown.exit_code == EXIT_BAD_INPUT and "not a drsorch history table" in shown.stderr


def test_store_init_of_a_sqlite_store_creates_the_file(tmp_path: Path) -> None:
    result = cli("store", "init", f"sqlite:///{tmp_path}/h.db")
    assert result.exit_code == EXIT_OK and (tmp_path / "h.db").exists()
    assert "is ready (schema" in result.stdout


def test_a_missing_table_is_bad_input_naming_store_init(aws: None, fast_clients: None) -> None:
    for args in (("history",), ("show", "0123abcd"), ("report", "0123abcd")):
        result = cli(*args, "--store", URL)
        assert result.exit_code == EXIT_BAD_INPUT, (args, result.output)
        assert f"table {TABLE} does not exist; create it with drsorch store init" in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("dynamodb://", "a table name is 3 to 255"),
        ("dynamodb://ab?region=us-east-1", "a table name is 3 to 255"),
        ("dynamodb:history", "bad DynamoDB store URL"),
        ("dynamodb://history/extra?region=us-east-1", "a table name"),
        ("dynamodb://history?regoin=us-east-1", "unknown 'regoin'"),
        ("dynamodb://history?region=", "give region once, not empty"),
        ("dynamodb://history?region=a&region=b", "give region once"),
        ("dynamodb://history?endpoint_url=ftp://x", "endpoint_url must be http"),
    ],
)
def test_a_malformed_url_is_a_config_error(url: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        open_store(url)
    result = cli("history", "--store", url)
    assert result.exit_code == EXIT_BAD_INPUT and message in result.stderr


def test_open_store_and_the_environment_variable_name_the_table(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dynamo_store().close()
    monkeypatch.setenv("DRSORCH_STORE", URL)
    with open_store(read_only=True) as reader:
        assert isinstance(reader, DynamoStore) and reader.table == TABLE
        assert reader.query() == []
        with pytest.raises(StoreError, match="opened read-only"):
            reader.put(make_record(1))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))  # nor one in ~/.aws
    with pytest.raises(StoreConfigError, match="no AWS region"):
        open_store(f"dynamodb://{TABLE}")


def test_credentials_missing_or_refused_are_bad_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No credentials: exit 2 before any request (the endpoint is a closed local port, so
    nothing could leave anyway); a call IAM refuses names the action the role needs."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    local = f"{URL}&endpoint_url=http://127.0.0.1:9"
    result = cli("history", "--store", local)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "DescribeTable: no AWS credentials found" in result.stderr
    with mock_aws():
        client = dynamo_client()
        store = dynamo_store(client=client)
        fail_next(client, "GetItem", [(400, "AccessDeniedException")])
        with pytest.raises(StoreConfigError, match="the credentials need dynamodb:GetItem"):
            store.get(make_record(2).ExecutionId)


# -- Property 29: throttling and 5xx retried at 2/4/8 s, then a clear error ----------------


def test_a_throttled_save_is_retried_at_2_4_8_seconds_then_fails_naming_table_and_call(
    aws: None,
) -> None:
    clock = VirtualClock()
    client = dynamo_client()
    store = dynamo_store(clock=clock, client=client)
    record = make_record(3, Status="RUNNING")
    store.put(record)
    throttled = (400, "ProvisionedThroughputExceededException")
    fail_next(client, "TransactWriteItems", [throttled] * 3)
    later = record.model_copy(update={"PlanName": "saved after 3 retries"})
    store.put(later)
    assert clock.sleeps == [2.0, 4.0, 8.0]
    assert store.get(record.ExecutionId) == later
    clock.sleeps.clear()
    seen = fail_next(client, "TransactWriteItems", [throttled] * 4)
    with pytest.raises(StoreError) as caught:
        store.put(record.model_copy(update={"PlanName": "never saved"}))
    assert str(caught.value) == (
        f"DynamoDB table {TABLE}: TransactWriteItems failed after 4 attempts (3 retries over "
        "14 s): ProvisionedThroughputExceededException: injected "
        "ProvisionedThroughputExceededException"
    )
    assert clock.sleeps == [2.0, 4.0, 8.0] and len(seen) == 4
    assert store.get(record.ExecutionId) == later  # never half-written


_OPERATIONS = {
    "put": "TransactWriteItems",
    "get": "GetItem",
    "query": "Query",
    "renew": "UpdateItem",
}
_FAULTS = [
    (400, "ProvisionedThroughputExceededException"),
    (400, "ThrottlingException"),
    (400, "RequestLimitExceeded"),
    (500, "InternalServerError"),
    (503, "ServiceUnavailable"),
]


def test_property_29_every_call_retries_3_times_with_exponential_back_off(aws: None) -> None:
    """Seed Property 29 (Req 9.4, 9.5): whatever the call and the transient fault, a call
    that fails n times succeeds after sleeping 2, 4, 8 s (the first n of them) when n <= 3,
    and otherwise fails after exactly those three sleeps, naming the table and the call,
    with nothing written."""
    dynamo_store().close()
    record = make_record(29, Status="RUNNING")
    dynamo_store(create=False).put(record)
    lease = Lease("engine", DEFAULT_EPOCH + 600)

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        operation=st.sampled_from(sorted(_OPERATIONS)),
        faults=st.lists(st.sampled_from(_FAULTS), min_size=0, max_size=5),
    )
    def check(operation: str, faults: list[tuple[int, str]]) -> None:
        clock = VirtualClock()
        client = dynamo_client()
        store = dynamo_store(clock=clock, client=client, create=False)
        store.claim(record.ExecutionId, lease, DEFAULT_EPOCH)
        fail_next(client, _OPERATIONS[operation], list(faults))
        changed = record.model_copy(update={"PlanName": f"try {uuid.uuid4()}"})
        calls = {
            "put": lambda: store.put(changed, lease=lease),
            "get": lambda: store.get(record.ExecutionId),
            "query": lambda: store.query(plan_id=record.PlanId),
            "renew": lambda: store.renew(record.ExecutionId, lease),
        }
        if len(faults) <= 3:
            calls[operation]()
            assert clock.sleeps == [2.0, 4.0, 8.0][: len(faults)]
        else:
            with pytest.raises(StoreError, match=f"table {TABLE}: {_OPERATIONS[operation]} fail"):
                calls[operation]()
            assert clock.sleeps == [2.0, 4.0, 8.0]
            assert store.get(record.ExecutionId) != changed
        store.release(record.ExecutionId, lease.holder)

    check()


def test_a_batch_left_unprocessed_is_sent_again_after_back_off(store: DynamoStore) -> None:
    """BatchGetItem answers throttling by leaving keys unprocessed: sent again at 2/4/8 s."""
    record = make_record(4)
    store.put(record)
    client = store._table.client
    real = client.batch_get_item
    answers = iter(range(3))

    def unprocessed(**kwargs: Any) -> Any:
        if next(answers, None) is not None:
            keys = kwargs["RequestItems"][TABLE]
            return {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: keys}}
        return real(**kwargs)

    client.batch_get_item = unprocessed
    clock = store._table.clock
    assert isinstance(clock, VirtualClock)
    clock.sleeps.clear()
    assert store.get(record.ExecutionId) == record
    assert clock.sleeps == [2.0, 4.0, 8.0]


# -- sizes ----------------------------------------------------------------------------------


def big_execution(waves: int, per_wave: int, *, failed: bool = False) -> tuple[Any, Any]:
    """A finished execution of ``waves`` x ``per_wave`` servers: its record and its engine
    state, as an engine against AWS saves them (ids random, so they compress as real)."""
    plan = parse_plan(make_plan(9, waves=waves, servers_per_wave=per_wave))
    state: Any = new_execution(
        plan,
        execution_id=str(uuid.UUID(int=random.Random(waves).getrandbits(128), version=4)),
        now=DEFAULT_EPOCH,
        initiated_by="ops@example.com",
        source_account_id="111122223333",
        target_account_id="444455556666",
        region=REGION,
    )
    rng = random.Random(per_wave)

    def hexes(n: int) -> str:
        return f"{rng.getrandbits(4 * n):0{n}x}"

    for i, (sid, server) in enumerate(state["servers"].items()):
        start = DEFAULT_EPOCH + 10 + i * 0.37
        token = f"{state['execution_id']}:{i // 100}"
        server.update(
            status="FAILED" if failed else "COMPLETED",
            job_id=f"drsjob-{hexes(17)}",
            token=token,
            recovery_instance_id=f"i-{hexes(17)}",
            ec2_instance_id=f"i-{hexes(17)}",
            start_time=start,
            launched_time=start + 600.25,
            healthy_time=None if failed else start + 900.5,
            end_time=start + 900.5,
            error=f"instance {hexes(8)} failed its health check" if failed else None,
            polls=3,
            last_seen={"state": "running", "instance_status": "ok", "system_status": "ok"},
            hostname=f"host-{hexes(6)}.corp.example.com",
        )
        if failed:
            state["errors"].append(
                {
                    "Message": server["error"],
                    "WaveNumber": server["wave"],
                    "ServerId": sid,
                    "JobId": server["job_id"],
                }
            )
    end = DEFAULT_EPOCH + 10 + len(state["servers"]) * 0.37 + 1000
    for wave in state["waves"]:
        wave.update(
            status="FAILED" if failed else "COMPLETED", start_time=DEFAULT_EPOCH + 5, end_time=end
        )
    state.update(status="FAILED" if failed else "COMPLETED", phase="DONE", end_time=end)
    return ExecutionRecord.model_validate(to_record(state)), state


def test_a_10000_server_record_and_state_fit_in_items_under_400_kb(store: DynamoStore) -> None:
    """Issue 9: no item over 400 KB whatever the plan size; the figures are printed (-s)."""
    record, state = big_execution(100, 100)
    store.put(record, state)
    assert store.get(record.ExecutionId) == record
    assert store.get_state(record.ExecutionId) == state
    sizes = sorted(((item_size(i), i["sk"]["S"]) for i in items()), reverse=True)
    print(
        f"\n10 000 servers / 100 waves, record and state: {len(sizes)} items, "
        f"{sum(s for s, _ in sizes)} bytes; largest {sizes[:3]}"
    )
    assert sizes[0][0] < MAX_ITEM_BYTES / 2
    kinds = Counter(sort_key.split("#")[0] for _, sort_key in sizes)
    assert kinds == {"SUMMARY": 1, "WAVE": 100, "STATE": 102}  # plan, core, 100 waves


def test_a_part_bigger_than_an_item_is_chunked(
    store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wave, a state part or a head's payload (a summary of 10 000 errors) bigger than an
    item goes in chunks: here with chunks of 5 000 bytes, so 300 servers are enough."""
    monkeypatch.setattr(dynamodb_layout, "CHUNK_BYTES", 5_000)
    monkeypatch.setattr(dynamodb_module, "INLINE_PAYLOAD", 3_000)
    record, state = big_execution(1, 300, failed=True)
    store.put(record, state)
    assert store.get(record.ExecutionId) == record
    assert store.get_state(record.ExecutionId) == state
    assert store.query(status="FAILED") == [record]
    stored = items()
    kinds = Counter(i["sk"]["S"].split("#")[0] for i in stored)
    assert kinds["WAVE"] >= 2 and kinds["PAYLOAD"] >= 2 and kinds["STATE"] >= 4, kinds
    assert max(len(i["data"]["B"]) for i in stored if "data" in i) <= 5_000


# -- floats, Decimals, ordering, damage ----------------------------------------------------


def test_floats_and_decimals_come_back_as_they_were(store: DynamoStore) -> None:
    def started(seed: int, start: float) -> ExecutionRecord:  # make_record rounds to ms
        data = make_record(seed, StartTime=1764070000.123, PlanId="floats").to_dict()
        return ExecutionRecord.from_dict({**data, "StartTime": start})

    record, other = started(5, 1764070000.1234567), started(6, 1764070000.1234568)
    store.put(record, {"a": Decimal("1.5"), "b": Decimal("2"), "c": 0.1 + 0.2})
    store.put(other)
    assert store.get(record.ExecutionId) == record
    assert store.get_state(record.ExecutionId) == {"a": 1.5, "b": 2, "c": 0.30000000000000004}
    assert store.query(plan_id="floats") == [other, record]  # 1e-7 s apart, in order


def test_executions_that_started_together_are_ordered_by_id(store: DynamoStore) -> None:
    same = [make_record(seed, StartTime=DEFAULT_EPOCH, PlanId="tied") for seed in range(7)]
    for record in same:
        store.put(record)
    expected = sorted(same, key=lambda r: r.ExecutionId, reverse=True)
    assert store.query(plan_id="tied", limit=3) == expected[:3]
    assert store.query(limit=50) == expected


def test_the_running_index_holds_only_running_executions(store: DynamoStore) -> None:
    running = make_record(7, Status="RUNNING")
    store.put(running)
    assert store.query(status="running") == [running]
    [head] = [i for i in items() if i["sk"]["S"] == "SUMMARY"]
    assert head["running"] == {"S": "RUNNING"}
    done = running.finalize(ExecutionStatus.COMPLETED, running.StartTime + 60)
    store.put(done)
    assert store.query(status="RUNNING") == []
    assert store.query(status="COMPLETED") == [done]
    [head] = [i for i in items() if i["sk"]["S"] == "SUMMARY"]
    assert "running" not in head


def test_find_ids_by_prefix_of_any_length(store: DynamoStore) -> None:
    records = make_records(12, seed=8)
    for record in records:
        store.put(record)
    ids = sorted(r.ExecutionId for r in records)
    assert store.find_ids("") == ids
    assert store.find_ids(ids[0][0]) == [i for i in ids if i[0] == ids[0][0]]
    assert store.find_ids(ids[3][:6]) == [ids[3]]
    assert store.find_ids(ids[3].upper()) == []
    assert store.find_ids("", limit=2) == ids[:2]


def test_a_damaged_record_is_named_and_skipped(store: DynamoStore) -> None:
    good, bad = make_record(10), make_record(11)
    store.put(good)
    store.put(bad)
    dynamo_client().update_item(
        TableName=TABLE,
        Key={"pk": {"S": bad.ExecutionId}, "sk": {"S": "SUMMARY"}},
        UpdateExpression="SET payload = :p",
        ExpressionAttributeValues={":p": {"B": b"not zlib"}},
    )
    damaged: list[Damaged] = []
    assert store.query(limit=5, on_damaged=damaged.append) == [good]
    assert [d.execution_id for d in damaged] == [bad.ExecutionId]
    with pytest.raises(StoreDamagedError, match=f"record of {bad.ExecutionId} is unreadable"):
        store.get(bad.ExecutionId)
    store.put(bad)  # a whole save over it makes it whole again
    assert store.get(bad.ExecutionId) == bad


# -- two writers, and a crash between the parts and the head -------------------------------


def test_two_engines_never_overwrite_each_other(aws: None) -> None:
    first = dynamo_store()
    second = dynamo_store(create=False)  # another process: its own client
    record = make_record(12, Status="RUNNING")
    eid = record.ExecutionId
    first.claim(eid, Lease("A", 100.0), 0.0)
    first.put(record, {"by": "A"}, lease=Lease("A", 120.0))
    second.claim(eid, Lease("B", 400.0), 200.0, takeover=True)  # A's lease expired
    taken = record.model_copy(update={"PlanName": "B's"})
    second.put(taken, {"by": "B"}, lease=Lease("B", 420.0))
    with pytest.raises(LeaseLostError, match="now held by B"):
        first.put(
            record.model_copy(update={"PlanName": "A's"}), {"by": "A"}, lease=Lease("A", 440.0)
        )
    with pytest.raises(LeaseLostError):
        first.renew(eid, Lease("A", 460.0))
    assert first.get(eid) == taken and first.get_state(eid) == {"by": "B"}
    # Without leases, the later of two writers working from the same revision is refused.
    plain = make_record(13)
    first.put(plain)
    second.put(plain.model_copy(update={"PlanName": "second"}))
    with pytest.raises(StoreError, match="saved by another writer meanwhile"):
        first.put(plain.model_copy(update={"PlanName": "first, stale"}))
    assert second.get(plain.ExecutionId).PlanName == "second"  # type: ignore[union-attr]
    first.put(plain.model_copy(update={"PlanName": "first, again"}))  # it read anew
    assert second.get(plain.ExecutionId).PlanName == "first, again"  # type: ignore[union-attr]


class Crash(BaseException):
    """The process dies on the spot."""


def test_a_crash_between_the_parts_and_the_head_leaves_the_saved_record(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save too big for one transaction writes its parts first and the head last: when
    the head's write never happens, readers see the record saved before, and the next
    whole save deletes the parts left behind."""
    monkeypatch.setattr(dynamodb_module, "MAX_TRANSACTION_ITEMS", 4)  # 4+ waves: two phases
    client = dynamo_client()
    writer = dynamo_store(client=client)
    reader = dynamo_store(create=False)
    records = (make_record(seed, Status="RUNNING") for seed in range(14, 200))
    record = next(r for r in records if len(r.WaveStatus) >= 4)
    writer.put(record, {"saved": 1})
    count = len(items())
    renamed = record.model_copy(
        update={
            "WaveStatus": [w.model_copy(update={"WaveName": "crash"}) for w in record.WaveStatus]
        }
    )

    def crash(**_: Any) -> None:
        raise Crash

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", crash)
    monkeypatch.setattr(writer._table, "delete", lambda *a, **k: None)  # dead: no clean-up
    with pytest.raises(Crash):
        writer.put(renamed, {"saved": 2})
    assert len(items()) > count  # the parts went out...
    assert reader.get(record.ExecutionId) == record  # ...but readers see the last save
    assert reader.get_state(record.ExecutionId) == {"saved": 1}
    assert reader.query() == [record]
    restarted = dynamo_store(create=False)  # the engine restarts: a whole save
    restarted.put(renamed, {"saved": 3})
    assert reader.get(record.ExecutionId) == renamed
    assert len(items()) == count  # what the crash left behind is gone


def test_a_failed_head_write_takes_its_parts_back(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb_module, "MAX_TRANSACTION_ITEMS", 2)
    client = dynamo_client()
    store = dynamo_store(client=client)
    record = make_record(16, Status="RUNNING")
    store.put(record)
    count = len(items())
    fail_next(client, "TransactWriteItems", [(400, "ValidationException")])
    with pytest.raises(StoreError, match="TransactWriteItems failed: ValidationException"):
        store.put(record.model_copy(update={"PlanName": "not saved"}))
    assert len(items()) == count and store.get(record.ExecutionId) == record


def test_saves_too_big_for_one_transaction_keep_the_lease_and_clean_up(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = dynamo_store()
    record = make_record(17, Status="RUNNING")
    waves = len(record.WaveStatus)
    # the parts and the head fit a transaction, the deletes of the replaced parts do not
    monkeypatch.setattr(dynamodb_module, "MAX_TRANSACTION_ITEMS", waves + 1)
    store.put(record)
    count = len(items())
    store.put(record.model_copy(update={"PlanName": "again"}))
    assert len(items()) == count  # the replaced parts were deleted after the commit
    # the parts alone do not fit: a lease lost is found before anything is written
    monkeypatch.setattr(dynamodb_module, "MAX_TRANSACTION_ITEMS", 2)
    store.claim(record.ExecutionId, Lease("A", 100.0), 0.0)
    store.claim(record.ExecutionId, Lease("B", 300.0), 200.0, takeover=True)
    with pytest.raises(LeaseLostError, match="now held by B"):
        store.put(record, lease=Lease("A", 400.0))
    assert len(items()) == count + 1  # the lease item, nothing else


def test_a_reader_overtaken_by_a_save_reads_the_newer_record(aws: None) -> None:
    """A save replaces (and deletes) the parts a reader's head named, between the reader's
    two reads: the reader reads the head again and returns the newer record, whole."""
    writer = dynamo_store()
    reader = dynamo_store(create=False)
    record = make_record(18, Status="RUNNING")
    writer.put(record, {"n": 1})
    newer = record.model_copy(update={"PlanName": "newer"})
    real_fetch = reader._table.fetch
    fetches, due = [0], [1]

    def fetch_after_a_save(keys: Any) -> Any:
        fetches[0] += 1
        if fetches[0] in due:  # the writer saves (and deletes the old parts) right now
            writer.put(newer, {"n": fetches[0]})
        return real_fetch(keys)

    reader._table.fetch = fetch_after_a_save  # type: ignore[method-assign]
    assert reader.get(record.ExecutionId) == newer
    due.append(fetches[0] + 1)  # the first fetch of get_state()
    assert reader.get_state(record.ExecutionId) == {"n": due[1]}
    assert fetches[0] == due[1] + 3  # its head read again, once


# -- the commands, unchanged, on a dynamodb:// URL -----------------------------------------


def test_history_and_show_work_on_a_dynamodb_url(aws: None, fast_clients: None) -> None:
    records = make_records(12, seed=21, plans=3)
    with dynamo_store() as store:
        for record in records:
            store.put(record)
    newest = sorted(records, key=lambda r: (r.StartTime, r.ExecutionId), reverse=True)
    listed = cli("history", "--store", URL, "--json", "--limit", "5")
    assert listed.exit_code == EXIT_OK, listed.stderr
    assert json.loads(listed.stdout) == [record_json(r) for r in newest[:5]]
    failed = [r for r in newest if r.PlanId == "plan-2" and r.Status == "FAILED"]
    assert failed
    args = ("--plan", "plan-2", "--status", "failed", "--limit", "2", "--store", URL, "--json")
    filtered = cli("history", *args)
    assert json.loads(filtered.stdout) == [record_json(r) for r in failed[:2]]
    table = cli("history", "--limit", "3", env={"DRSORCH_STORE": URL})
    assert table.exit_code == EXIT_OK and newest[0].ExecutionId[:8] in table.stdout
    shown = cli("show", newest[0].ExecutionId[:8], "--store", URL, "--json")
    assert shown.exit_code == EXIT_OK and json.loads(shown.stdout) == record_json(newest[0])


def test_resume_works_on_a_dynamodb_url(
    aws: None, fast_clients: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine against AWS (here the simulated region standing in) dies after its second
    launch; ``drsorch resume ID --aws --store dynamodb://...`` takes the execution over,
    adopts the job already sent, and finishes it, launching no server twice."""
    import drsorch.cli.run as run_module

    gone = f"ops@{__import__('socket').gethostname()} pid 999999999 #0badf00d"
    plan = parse_plan(make_plan(3, waves=3, servers_per_wave=2, execution_type="MIXED"))
    world = simulated(plan, clock=VirtualClock(start=DEFAULT_EPOCH), scenario=SHORT, seed=3)
    world.options.keep_state = True
    world.options.environment = "aws"
    real_start = world.drs.start_recovery
    sent = [0]

    def dies_after_the_second(*args: Any, **kwargs: Any) -> Any:
        result = real_start(*args, **kwargs)
        sent[0] += 1
        if sent[0] == 2:
            raise Crash
        return result

    world.drs.start_recovery = dies_after_the_second  # type: ignore[method-assign]
    store = dynamo_store()
    runner = Runner(drs=world.drs, ec2=world.ec2, store=store, clock=world.clock, holder=gone)
    runner._break = lambda state, message: None  # type: ignore[method-assign]
    with pytest.raises(Crash):
        runner.run(plan, world.options)
    del world.drs.start_recovery  # the restarted engine has a healthy adapter
    world.clock.advance(DEFAULT_LEASE_SECONDS)  # type: ignore[attr-defined]
    monkeypatch.setattr(run_module, "real_aws", lambda plan, **kw: world)
    eid = world.options.execution_id
    result = cli("resume", eid[:8], "--aws", "--json", "--store", URL)
    assert result.exit_code == EXIT_OK, result.stderr
    record = json.loads(result.stdout)
    assert record["ExecutionId"] == eid and record["Status"] == "COMPLETED"
    assert world.sim is not None
    launched = Counter(
        sid for job in world.sim.jobs if job.type == "LAUNCH" for sid in job.participants
    )
    assert launched == Counter(dict.fromkeys(plan.all_server_ids(), 1))
    again = cli("resume", eid, "--aws", "--store", URL)
    assert again.exit_code == EXIT_BAD_INPUT and "already ended COMPLETED" in again.stderr
