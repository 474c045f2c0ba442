"""The DynamoDB history store (design §5, issue 9; seed Req 5, 7.5, 9.4, 9.5).

``dynamodb://TABLE?region=REGION`` (also ``&profile=P``, and ``&endpoint_url=URL`` for a
local DynamoDB or a rehearsal) names one table, created by ``drsorch store init URL``.
How a record lies in it, and why no item nears 400 KB whatever the plan's size, is
:mod:`~drsorch.store.dynamodb_layout`'s to say; calls, retries and errors are
:mod:`~drsorch.store.dynamodb_calls`'s. This module keeps the port's promises.

**Saves.** A save writes the parts given (waves, engine-state parts) under new keys, then
the head, in one ``TransactWriteItems`` when they fit one (100 actions, 4 MB): the head's
Put is conditional on the revision this writer last saw, and with a lease a conditional
Update of the LEASE item (it renews the lease) rides along, so a save by an engine whose
lease was taken over writes nothing and raises :class:`~drsorch.errors.LeaseLostError`. A
save too big for one transaction (the first save of a 100-wave record and its state)
checks the lease, writes its parts with ``BatchWriteItem``, then commits the head and the
lease in a transaction: a reader never sees a head ahead of its parts, and a failure or a
crash in between leaves the record saved before (plus unreferenced items, which the next
whole save of that execution deletes). The parts a save replaced are deleted in its
transaction when they fit in it, else right after it committed. Two writers never
overwrite each other: the one whose head condition fails gets a
:class:`~drsorch.errors.StoreError` saying another writer saved meanwhile (it is told
apart from a lost lease by the transaction's cancellation reasons).

**Reads** take the head (strongly consistent; or from an index, eventually consistent),
then every part it names (``BatchGetItem``, consistent). A part that is gone means a newer
save replaced it meanwhile: the head is read again (a few times at most). ``query`` reads
an index newest first (by plan, by status, the sparse ``running`` one, or every status
merged), so ``history`` never scans the table; ``find_ids`` queries the keys-only ``by_id``
index (a prefix of 2+ characters reads one partition; a shorter one scans that index).

IAM: ``dynamodb:DescribeTable, GetItem, Query, Scan, BatchGetItem, PutItem, UpdateItem,
DeleteItem, BatchWriteItem, TransactWriteItems`` on the table and ``TABLE/index/*`` (a
transaction's Put, Update and Delete need their own action too); ``store init`` also
``CreateTable, DescribeContinuousBackups, UpdateContinuousBackups``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from botocore import exceptions as bce
from pydantic import ValidationError

from drsorch.clock import Clock, RealClock
from drsorch.core.statuses import ExecutionStatus
from drsorch.errors import LeaseLostError, StoreDamagedError, StoreError
from drsorch.history import ExecutionRecord
from drsorch.store.base import (
    DEFAULT_LIMIT,
    Damaged,
    Lease,
    RecordParts,
    StateParts,
    assemble,
    check_claim,
    check_held,
    check_query,
    damage_reason,
    join_state,
    parts_of,
)
from drsorch.store.dynamodb_calls import (
    DynamoUrl,
    InitOutcome,
    Item,
    MissingTableError,
    Table,
    key,
    make_client,
    parse_url,
    reasons,
)
from drsorch.store.dynamodb_layout import (
    CHUNK_BYTES,
    HEAD,
    ID_HEAD,
    INLINE_PAYLOAD,
    LEASE,
    PK,
    SK,
    Head,
    Ref,
    chunk_keys,
    decode,
    encode,
    item_size,
    manifest,
    new_version,
    number,
    parse_manifest,
    revision_of,
    split,
)

__all__ = ["DynamoStore", "DynamoUrl", "InitOutcome", "MissingTableError", "parse_url"]

_CANCELLED = "TransactionCanceledException"
_CONDITION = "ConditionalCheckFailedException"
#: The sort-key prefix of a request left for an execution's engine.
_REQUEST = "REQUEST@"
#: DynamoDB's limits on one transaction (4 MB less a margin for what is not counted).
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4_000_000
#: Times a reader reads a head again when a newer save replaced the parts it named.
READ_ATTEMPTS = 5
#: What a read finds when a newer save replaced the parts the head it read names.
_MOVED = object()


@dataclass
class _Save:
    """One save being put together: the chunk items it writes, those it makes stale."""

    execution_id: str
    version: str
    puts: list[Item] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    stale_weight: int = 0

    def write(self, kind: str, part: int | str, blob: bytes, old: Ref | None = None) -> Ref:
        """Write ``blob`` in chunks (replacing ``old``); where it will be."""
        if old is not None:
            self.drop(kind, old, part)
        pieces = split(blob)
        ref = Ref(self.version, len(pieces), len(blob))
        for sort_key, piece in zip(chunk_keys(kind, ref, part), pieces, strict=True):
            self.puts.append({**key(self.execution_id, sort_key), "data": {"B": piece}})
        return ref

    def drop(self, kind: str, ref: Ref, part: int | str | None = None) -> None:
        self.stale.extend(chunk_keys(kind, ref, part))
        self.stale_weight += ref.weight

    def waves(self, parts: RecordParts, saved: Sequence[tuple[int, Ref]]) -> list[tuple[int, Ref]]:
        """Where each wave will be: written anew when given, else where it was."""
        old = dict(saved)
        waves: list[tuple[int, Ref]] = []
        for n in parts.wave_numbers:
            if n in parts.waves:
                waves.append((n, self.write("WAVE", n, encode(parts.waves[n]), old.pop(n, None))))
            elif n in old:
                waves.append((n, old.pop(n)))
        for n, ref in old.items():  # not in this record: a whole save drops them
            if parts.whole:
                self.drop("WAVE", ref, n)
            else:
                waves.append((n, ref))
        return waves

    def state(
        self, given: StateParts | None, saved: Sequence[tuple[str, Ref]]
    ) -> list[tuple[str, Ref]]:
        """Where each part of the engine state will be (a whole state drops the others)."""
        old = dict(saved)
        if given is None:
            return list(old.items())
        kept = {} if given.whole else dict(old)
        for name, body in given.parts.items():
            kept[name] = self.write("STATE", name, encode(body), old.pop(name, None))
        if given.whole:
            for name, ref in old.items():
                self.drop("STATE", ref, name)
        return list(kept.items())


class DynamoStore:
    """A :class:`~drsorch.store.base.HistoryStore` and ``LeaseStore`` in one DynamoDB table.

    ``client`` is a boto3 DynamoDB client (built from ``url`` when None, botocore's retries
    off); ``clock`` is what back-off sleeps on. ``check`` describes the table once, so a
    missing or foreign table is reported before anything is done."""

    def __init__(
        self,
        url: DynamoUrl | str,
        *,
        client: Any = None,
        clock: Clock | None = None,
        read_only: bool = False,
        check: bool = True,
    ) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.read_only = read_only
        self._own_client = client is None
        self._table = Table(
            self.url, make_client(self.url) if client is None else client, clock or RealClock()
        )
        #: The head this store last wrote, per execution: the revision its next save
        #: replaces (conditionally), and the parts that save may keep.
        self._heads: dict[str, Head] = {}
        if check:
            try:
                self._table.check()
            except BaseException:
                self.close()
                raise

    @property
    def table(self) -> str:
        return self._table.name

    def init_table(self, *, timeout: float = 600.0, poll: float = 5.0) -> InitOutcome:
        """``drsorch store init``: see :meth:`~drsorch.store.dynamodb_calls.Table.init`."""
        self._writable()
        return self._table.init(timeout=timeout, poll=poll)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"DynamoDB table {self.table} was opened read-only")

    # -- saving -------------------------------------------------------------------------

    def put(
        self,
        record: ExecutionRecord,
        state: Mapping[str, Any] | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        self.put_parts(parts_of(record), state, lease=lease)

    def put_parts(
        self,
        parts: RecordParts,
        state: Mapping[str, Any] | StateParts | None = None,
        *,
        lease: Lease | None = None,
    ) -> None:
        self._writable()
        execution_id = parts.execution_id
        before = self._heads.get(execution_id) or self._current_head(execution_id)
        revision = (before.revision if before else 0) + 1
        save = _Save(execution_id, new_version(revision))
        waves = save.waves(parts, before.waves if before else ())
        given = StateParts.given(state)
        state_refs = save.state(given, before.state if before else ())
        head = self._head_item(parts, revision, lease)
        payload = encode(manifest(parts.summary, waves, state_refs))
        payload_ref = None
        if len(payload) <= INLINE_PAYLOAD:
            head["payload"] = {"B": payload}
        else:
            payload_ref = save.write("PAYLOAD", "", payload)
            head["payload_ref"] = {"S": payload_ref.version}
            head["payload_chunks"] = {"N": str(payload_ref.chunks)}
            head["payload_size"] = {"N": str(payload_ref.size)}
        if before is not None and before.payload is not None:
            save.drop("PAYLOAD", before.payload)
        deleted = self._write(save, head, before, lease)
        saved = Head(revision, tuple(waves), tuple(state_refs), payload_ref)
        self._heads[execution_id] = saved
        if not deleted:
            self._table.delete(execution_id, save.stale)
        if parts.whole and before is not None:
            self._collect(execution_id, saved)

    @staticmethod
    def _head_item(parts: RecordParts, revision: int, lease: Lease | None) -> Item:
        head: Item = {
            **key(parts.execution_id, HEAD),
            "rev": {"N": str(revision)},
            "plan_id": {"S": parts.plan_id},
            "status": {"S": parts.status},
            "start_time": {"N": number(parts.start_time)},
            "id_head": {"S": parts.execution_id[:ID_HEAD]},
        }
        if parts.status == ExecutionStatus.RUNNING:
            head["running"] = {"S": ExecutionStatus.RUNNING.value}  # the sparse index's key
        if lease is not None:
            head["holder"] = {"S": lease.holder}
        return head

    def _write(self, save: _Save, head: Item, before: Head | None, lease: Lease | None) -> bool:
        """The parts, then the head (and the lease), as the module docstring says; whether
        the parts the save replaced were deleted in the same transaction."""
        execution_id = save.execution_id
        condition: Item = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if before is None
            else {
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {":rev": {"N": str(before.revision)}},
            }
        )
        commit: list[Item] = [{"Put": {"TableName": self.table, "Item": head, **condition}}]
        if lease is not None:
            commit.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": key(execution_id, LEASE),
                        "UpdateExpression": "SET expires_at = :expires",
                        "ConditionExpression": "holder = :holder",
                        "ExpressionAttributeValues": {
                            ":expires": {"N": number(lease.expires_at)},
                            ":holder": {"S": lease.holder},
                        },
                    }
                }
            )
        puts = [{"Put": {"TableName": self.table, "Item": item}} for item in save.puts]
        deletes = [
            {"Delete": {"TableName": self.table, "Key": key(execution_id, sort_key)}}
            for sort_key in save.stale
        ]
        size = sum(item_size(item) for item in (*save.puts, head))
        if len(puts) + len(commit) + len(deletes) <= MAX_TRANSACTION_ITEMS and (
            size + save.stale_weight <= MAX_TRANSACTION_BYTES
        ):
            self._transact(execution_id, puts + commit + deletes, len(puts), lease)
            return True
        if len(puts) + len(commit) <= MAX_TRANSACTION_ITEMS and size <= MAX_TRANSACTION_BYTES:
            self._transact(execution_id, puts + commit, len(puts), lease)
            return False
        # Too big for one transaction: the parts first, the head last (HistoryStore.put_parts).
        if lease is not None:
            check_held(execution_id, self.lease_of(execution_id), lease)
        try:
            self._table.batch_write([{"PutRequest": {"Item": item}} for item in save.puts])
            self._transact(execution_id, commit, 0, lease)
        except BaseException:
            self._table.delete(execution_id, [item[SK]["S"] for item in save.puts])
            raise
        return False

    def _transact(
        self, execution_id: str, actions: list[Item], head_at: int, lease: Lease | None
    ) -> None:
        """One TransactWriteItems; a cancelled one says which condition failed."""
        try:
            self._table.call(
                "TransactWriteItems",
                expect=(_CANCELLED,),
                TransactItems=actions,
                ClientRequestToken=str(uuid.uuid4()),  # a retry after a lost answer: a no-op
            )
        except bce.ClientError as exc:
            self._heads.pop(execution_id, None)
            why = reasons(exc)
            lease_ok = len(why) > head_at + 1 and why[head_at + 1] == "None"
            if lease is not None and not lease_ok:
                check_held(execution_id, self.lease_of(execution_id), lease)
            if len(why) > head_at and why[head_at] == "ConditionalCheckFailed":
                raise StoreError(
                    f"execution {execution_id} was saved by another writer meanwhile; this "
                    f"save was not written (DynamoDB table {self.table})"
                ) from exc
            raise StoreError(
                f"DynamoDB table {self.table}: the save of execution {execution_id} was "
                f"cancelled ({', '.join(why) or exc}); nothing was written"
            ) from exc

    def _collect(self, execution_id: str, head: Head) -> None:
        """Delete the chunks of saves that never committed (a crash between the parts and
        the head): every chunk at or below this head's revision that it does not name.
        One Query of the execution's keys: done on whole saves only."""
        keep = set(self._keys_of(head))
        garbage = []
        for item in self._table.pages(
            "Query",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": execution_id}},
            ProjectionExpression="sk",
        ):
            sort_key = item[SK]["S"]
            revision = revision_of(sort_key)
            if revision is not None and revision <= head.revision and sort_key not in keep:
                garbage.append(sort_key)
        self._table.delete(execution_id, garbage)

    @staticmethod
    def _keys_of(head: Head) -> Iterator[str]:
        for n, ref in head.waves:
            yield from chunk_keys("WAVE", ref, n)
        for name, ref in head.state:
            yield from chunk_keys("STATE", ref, name)
        if head.payload is not None:
            yield from chunk_keys("PAYLOAD", head.payload)

    # -- reading ------------------------------------------------------------------------

    def _payloads(self, heads: Sequence[Item]) -> list[Any]:
        """Each head's payload, decoded: a dict, ``_MOVED`` (its chunks are gone) or the
        ValueError that says why it cannot be read."""
        refs = [
            _payload_ref(h)
            if "payload" not in h and "payload_ref" in h and "payload_chunks" in h
            else None
            for h in heads
        ]
        blobs = self._table.fetch(
            (h[PK]["S"], k)
            for h, ref in zip(heads, refs, strict=True)
            if ref is not None
            for k in chunk_keys("PAYLOAD", ref)
        )
        out: list[Any] = []
        for item, ref in zip(heads, refs, strict=True):
            try:
                if ref is None:
                    blob = bytes(item["payload"]["B"])
                else:
                    pieces = [blobs.get((item[PK]["S"], k)) for k in chunk_keys("PAYLOAD", ref)]
                    if any(p is None for p in pieces):
                        out.append(_MOVED)
                        continue
                    blob = b"".join(p for p in pieces if p is not None)
                payload = decode(blob)
                if not isinstance(payload, dict):
                    raise ValueError("the head's payload is not an object")
                parse_manifest(payload)
                out.append(payload)
            except KeyError as exc:
                out.append(ValueError(f"the head has no {exc}"))
            except ValueError as exc:
                out.append(exc)
        return out

    def _assemble(self, heads: Sequence[Item]) -> list[Any]:
        """Each head's record: an ExecutionRecord, ``_MOVED``, or a StoreDamagedError."""
        payloads = self._payloads(heads)
        manifests = [parse_manifest(p) if isinstance(p, dict) else None for p in payloads]
        blobs = self._table.fetch(
            (h[PK]["S"], k)
            for h, m in zip(heads, manifests, strict=True)
            if m is not None
            for n, ref in m[0]
            for k in chunk_keys("WAVE", ref, n)
        )
        out: list[Any] = []
        for item, payload, found in zip(heads, payloads, manifests, strict=True):
            execution_id = item[PK]["S"]
            if found is None:
                out.append(payload if payload is _MOVED else self._damaged(execution_id, payload))
                continue
            waves = []
            for n, ref in found[0]:
                pieces = [blobs.get((execution_id, k)) for k in chunk_keys("WAVE", ref, n)]
                if any(p is None for p in pieces):
                    break
                waves.append(b"".join(p for p in pieces if p is not None))
            if len(waves) < len(found[0]):
                out.append(_MOVED)
                continue
            try:
                data = assemble(payload["summary"], (decode(w) for w in waves))
                out.append(ExecutionRecord.from_dict(data))
            except (ValueError, ValidationError) as exc:
                out.append(self._damaged(execution_id, exc))
        return out

    def _damaged(self, execution_id: str, exc: Exception) -> StoreDamagedError:
        reason = damage_reason(exc)
        error = StoreDamagedError(
            f"DynamoDB table {self.table}: the record of {execution_id} is unreadable: {reason}"
        )
        error.__cause__ = exc
        return error

    def _read(self, heads: Sequence[Item]) -> list[tuple[str, Any]]:
        """(execution id, record | None | StoreDamagedError) for each head, in order; a
        head whose parts a newer save replaced meanwhile is read again."""
        results: dict[str, Any] = {}
        pending = list(heads)
        for _ in range(READ_ATTEMPTS):
            moved = []
            for item, outcome in zip(pending, self._assemble(pending), strict=True):
                if outcome is _MOVED:
                    moved.append(item[PK]["S"])
                else:
                    results[item[PK]["S"]] = outcome
            pending = []
            for execution_id in moved:
                again = self._table.get_item(execution_id, HEAD)
                if again is None:
                    results[execution_id] = None  # deleted meanwhile
                else:
                    pending.append(again)
            if not pending:
                return [(h[PK]["S"], results[h[PK]["S"]]) for h in heads]
        raise StoreError(
            f"DynamoDB table {self.table}: execution {pending[0][PK]['S']} kept changing "
            f"while it was read ({READ_ATTEMPTS} times); try again"
        )

    def _current_head(self, execution_id: str) -> Head | None:
        """The head as stored now (what a writer that has not saved it yet replaces)."""
        item = self._table.get_item(execution_id, HEAD)
        if item is None:
            return None
        payload_ref = _payload_ref(item) if "payload_ref" in item else None
        payload = self._payloads([item])[0]
        revision = int(item["rev"]["N"])
        if not isinstance(payload, dict):  # unreadable: its parts are left to the collector
            return Head(revision, (), (), payload_ref)
        waves, state = parse_manifest(payload)
        return Head(revision, waves, state, payload_ref)

    def get(self, execution_id: str) -> ExecutionRecord | None:
        item = self._table.get_item(execution_id, HEAD)
        if item is None:
            return None
        outcome = self._read([item])[0][1]
        if isinstance(outcome, StoreDamagedError):
            raise outcome
        return outcome if isinstance(outcome, ExecutionRecord) else None

    def get_state(self, execution_id: str) -> dict[str, Any] | None:
        for _ in range(READ_ATTEMPTS):
            item = self._table.get_item(execution_id, HEAD)
            if item is None:
                return None
            payload = self._payloads([item])[0]
            if payload is _MOVED:
                continue
            if not isinstance(payload, dict):
                raise self._damaged(execution_id, payload)
            _, state = parse_manifest(payload)
            if not state:
                return None
            keys = {
                name: [(execution_id, k) for k in chunk_keys("STATE", ref, name)]
                for name, ref in state
            }
            blobs = self._table.fetch(k for ks in keys.values() for k in ks)
            if any(k not in blobs for ks in keys.values() for k in ks):
                continue  # a newer save replaced it meanwhile
            try:
                return join_state(
                    {name: decode(b"".join(blobs[k] for k in ks)) for name, ks in keys.items()}
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise StoreDamagedError(
                    f"DynamoDB table {self.table}: the saved engine state of {execution_id} "
                    "is damaged"
                ) from exc
        raise StoreError(
            f"DynamoDB table {self.table}: execution {execution_id} kept changing while its "
            "state was read; try again"
        )

    def query(
        self,
        *,
        plan_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        on_damaged: Callable[[Damaged], None] | None = None,
    ) -> list[ExecutionRecord]:
        wanted = check_query(status, limit)
        # One more than asked: the last head of a page is only yielded once the next one
        # shows it has no tie (equal StartTime), so a page of ``limit`` would cost a
        # second Query for every history listing.
        heads = self._newest(plan_id, wanted, page=min(limit + 1, 1000))
        found: list[ExecutionRecord] = []
        while len(found) < limit:  # a damaged record is skipped, so read on until enough
            missing = limit - len(found)
            batch = list(itertools.islice(heads, missing))
            for execution_id, outcome in self._read(batch):
                if isinstance(outcome, ExecutionRecord):
                    found.append(outcome)
                elif isinstance(outcome, StoreDamagedError) and on_damaged is not None:
                    on_damaged(Damaged(execution_id, damage_reason(outcome.__cause__ or outcome)))
            if len(batch) < missing:
                break
        return found

    def _newest(
        self, plan_id: str | None, status: ExecutionStatus | None, *, page: int
    ) -> Iterator[Item]:
        """Heads newest first (StartTime, then ExecutionId, descending), each id once."""
        if plan_id is not None:
            streams = [self._index("by_plan", "plan_id", plan_id, page, status)]
        elif status is ExecutionStatus.RUNNING:
            streams = [self._index("running", "running", status.value, page)]
        elif status is not None:
            streams = [self._index("by_status", "status", status.value, page)]
        else:  # one partition per status, merged: never a scan
            streams = [self._index("by_status", "status", s.value, page) for s in ExecutionStatus]
        seen: set[str] = set()
        for item in heapq.merge(*streams, key=_newest_key, reverse=True):
            if item[PK]["S"] not in seen:  # an index may lag a change of status
                seen.add(item[PK]["S"])
                yield item

    def _index(
        self,
        index: str,
        attribute: str,
        value: str,
        page: int,
        status: ExecutionStatus | None = None,
    ) -> Iterator[Item]:
        """One index partition newest first, ties (equal StartTime) by id descending."""
        names = {"#h": attribute}
        values: Item = {":h": {"S": value}}
        extra: Item = {}
        if status is not None:
            names["#s"] = "status"
            values[":s"] = {"S": status.value}
            extra["FilterExpression"] = "#s = :s"
        tied: list[Item] = []
        for item in self._table.pages(
            "Query",
            IndexName=index,
            KeyConditionExpression="#h = :h",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=page,
            **extra,
        ):
            if tied and item["start_time"]["N"] != tied[0]["start_time"]["N"]:
                yield from sorted(tied, key=_newest_key, reverse=True)
                tied = []
            tied.append(item)
        yield from sorted(tied, key=_newest_key, reverse=True)

    def find_ids(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[str]:
        check_query(None, limit)
        values: Item = {":p": {"S": prefix}}
        if len(prefix) >= ID_HEAD:  # one partition of the keys-only index, in id order
            values[":h"] = {"S": prefix[:ID_HEAD]}
            items = self._table.pages(
                "Query",
                IndexName="by_id",
                KeyConditionExpression="id_head = :h AND begins_with(pk, :p)",
                ExpressionAttributeValues=values,
                Limit=min(limit, 1000),
            )
            return [item[PK]["S"] for item in itertools.islice(items, limit)]
        # Shorter than the index's partition key (no command asks for fewer than 4
        # characters): the keys-only index is scanned.
        extra: Item = (
            {"FilterExpression": "begins_with(pk, :p)", "ExpressionAttributeValues": values}
            if prefix
            else {}
        )
        return sorted(
            item[PK]["S"] for item in self._table.pages("Scan", IndexName="by_id", **extra)
        )[:limit]

    # -- leases -------------------------------------------------------------------------

    def claim(self, execution_id: str, lease: Lease, now: float, *, takeover: bool = False) -> None:
        self._writable()
        for _ in range(READ_ATTEMPTS):
            current = self.lease_of(execution_id)
            check_claim(execution_id, current, lease, now, takeover)
            condition: Item = (
                {"ConditionExpression": "attribute_not_exists(pk)"}
                if current is None
                else {
                    "ConditionExpression": "holder = :h AND expires_at = :e",
                    "ExpressionAttributeValues": {
                        ":h": {"S": current.holder},
                        ":e": {"N": number(current.expires_at)},
                    },
                }
            )
            item = {
                **key(execution_id, LEASE),
                "holder": {"S": lease.holder},
                "expires_at": {"N": number(lease.expires_at)},
            }
            try:
                self._table.call(
                    "PutItem", expect=(_CONDITION,), TableName=self.table, Item=item, **condition
                )
                return
            except bce.ClientError:
                continue  # it changed between our read and our write: look again
        raise StoreError(
            f"DynamoDB table {self.table}: the lease of execution {execution_id} kept "
            "changing while it was claimed; try again"
        )

    def renew(self, execution_id: str, lease: Lease) -> None:
        self._writable()
        try:
            self._table.call(
                "UpdateItem",
                expect=(_CONDITION,),
                TableName=self.table,
                Key=key(execution_id, LEASE),
                UpdateExpression="SET expires_at = :e",
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={
                    ":e": {"N": number(lease.expires_at)},
                    ":h": {"S": lease.holder},
                },
            )
        except bce.ClientError:
            current = self.lease_of(execution_id)
            check_held(execution_id, None if current == lease else current, lease)
            # Held by this holder again by now (claimed anew meanwhile): it was lost still.
            raise LeaseLostError(
                f"execution {execution_id} lost its lease ({lease.holder}) while renewing it"
            ) from None

    def release(self, execution_id: str, holder: str) -> None:
        self._writable()
        # Held by another engine now (or by nobody): not ours to give up.
        with contextlib.suppress(bce.ClientError):
            self._table.call(
                "DeleteItem",
                expect=(_CONDITION,),
                TableName=self.table,
                Key=key(execution_id, LEASE),
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={":h": {"S": holder}},
            )

    def lease_of(self, execution_id: str) -> Lease | None:
        item = self._table.get_item(execution_id, LEASE)
        if item is None:
            return None
        return Lease(item["holder"]["S"], float(item["expires_at"]["N"]))

    # -- requests (drsorch approve / cancel) ----------------------------------------------

    def add_request(self, execution_id: str, request: Mapping[str, Any]) -> None:
        """One item per request, ``REQUEST@<ns>@<uuid>`` (no ``#``: never a part's chunk,
        so a whole save's clean-up leaves it alone), in the order it was made."""
        self._writable()
        sort_key = f"{_REQUEST}{time.time_ns():020d}@{uuid.uuid4().hex}"
        self._table.call(
            "PutItem",
            TableName=self.table,
            Item={**key(execution_id, sort_key), "body": {"S": json.dumps(request)}},
        )

    def take_requests(self, execution_id: str) -> list[dict[str, Any]]:
        """Each request is taken once: the conditional delete that removes it decides who."""
        taken: list[dict[str, Any]] = []
        for item in self._table.pages(
            "Query",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            ExpressionAttributeValues={":pk": {"S": execution_id}, ":r": {"S": _REQUEST}},
            ConsistentRead=True,
        ):
            try:
                self._table.call(
                    "DeleteItem",
                    expect=(_CONDITION,),
                    TableName=self.table,
                    Key=key(execution_id, item[SK]["S"]),
                    ConditionExpression="attribute_exists(pk)",
                )
            except bce.ClientError:
                continue  # another engine took it first
            try:
                request = json.loads(item["body"]["S"])
            except (KeyError, ValueError):
                continue  # a damaged request is nobody's request
            if isinstance(request, dict):
                taken.append(request)
        return taken

    # -- the rest -----------------------------------------------------------------------

    def close(self) -> None:
        if self._own_client:
            self._own_client = False
            self._table.close()

    def __enter__(self) -> DynamoStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DynamoStore({str(self.url)!r})"


def _newest_key(head: Item) -> tuple[float, str]:
    return float(head["start_time"]["N"]), head[PK]["S"]


def _payload_ref(head: Item) -> Ref:
    """Where a head's payload is, when it is not in the head."""
    size = int(head["payload_size"]["N"]) if "payload_size" in head else CHUNK_BYTES
    return Ref(head["payload_ref"]["S"], int(head["payload_chunks"]["N"]), size)
