"""The DRS adapter: the engine's only way to Elastic Disaster Recovery.

It speaks domain types (:mod:`drsorch.aws.types`) to the engine and boto3 to AWS; every
call goes through the :class:`~drsorch.aws.retry.RetryPolicy` and leaves, when it fails,
as a :mod:`drsorch.errors` error naming the operation, server and job.

``StartRecovery`` is the one call that must not be repeated blindly: it has no client
token, so a request that DRS processed but whose answer was lost (read timeout, reset,
5xx) would launch the servers twice if re-sent. Each launch therefore carries a unique
``drsorch:token`` tag; after an ambiguous failure the adapter looks for a job with that tag
and adopts it, and re-sends only when there is none (design §4, seed Req 9.3, Property 28).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from drsorch.aws.errors import describe_target
from drsorch.aws.retry import RetryPolicy
from drsorch.aws.types import (
    JobInfo,
    JobLogItem,
    RecoveryInstanceInfo,
    SourceServerInfo,
    format_iso_time,
    parse_job,
    parse_job_log_item,
    parse_recovery_instance,
    parse_source_server,
    read_items,
    read_job_field,
)
from drsorch.drs_terms import MAX_SERVERS_PER_JOB, TOKEN_TAG, chunks
from drsorch.errors import (
    AwsError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    RetryableError,
    ThrottledError,
)

__all__ = [
    "JOB_LOOKBACK_SECONDS",
    "MAX_SERVERS_PER_JOB",
    "TOKEN_TAG",
    "DrsAdapter",
]

#: Filter list limits of DescribeSourceServers / DescribeRecoveryInstances / Terminate...
ID_CHUNK = 200
#: Filter list limit of DescribeJobs.
JOB_ID_CHUNK = 1000
#: How far before "now" a lost job is looked for: covers clock skew against DRS.
JOB_LOOKBACK_SECONDS = 900.0


class _JobMayExist(RetryableError):
    """A conflict met by a re-sent StartRecovery: DRS allows one active job per server, so
    the job of the lost first attempt most likely exists but DescribeJobs does not list it
    yet (eventual consistency). Retryable: look again after the next back-off."""


class DrsAdapter:
    """DRS operations the engine uses, over a boto3 ``drs`` client."""

    def __init__(
        self,
        client: Any,
        retry: RetryPolicy,
        *,
        token_factory: Callable[[], str] | None = None,
        page_size: int | None = None,
        on_lost_answer: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._retry = retry
        #: Told, in words, of a StartRecovery whose answer was lost but whose job was then
        #: found by its token and adopted (``drsorch run -v`` shows it as it happens).
        self._on_lost_answer = on_lost_answer
        self._token_factory = token_factory or (lambda: uuid.uuid4().hex)
        self._page_size = page_size

    # --- plumbing --------------------------------------------------------------------------

    def _pages(
        self,
        method: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        server_id: str | None = None,
        job_id: str | None = None,
        server_ids: Sequence[str] = (),
    ) -> Iterator[tuple[int, list[Any]]]:
        """Yield ``(offset, items)`` per page; each page is retried on its own."""
        fn = getattr(self._client, method)
        token: str | None = None
        seen: set[str] = set()
        offset = 0
        while True:
            kwargs = dict(params)
            if self._page_size:
                kwargs["maxResults"] = self._page_size
            if token:
                kwargs["nextToken"] = token

            def send(kwargs: dict[str, Any] = kwargs) -> Any:
                return fn(**kwargs)

            page = self._retry.call(
                send,
                operation=operation,
                server_id=server_id,
                job_id=job_id,
                server_ids=server_ids,
            )
            items, token = read_items(page, operation=operation)
            yield offset, items
            offset += len(items)
            if not token:
                return
            if token in seen:
                raise MalformedResponseError(
                    f"{operation}: malformed response: nextToken repeats, paging would not end",
                    operation=operation,
                )
            seen.add(token)

    # --- source servers --------------------------------------------------------------------

    def describe_source_servers(self, server_ids: Sequence[str]) -> dict[str, SourceServerInfo]:
        """The servers DRS knows among ``server_ids``; unknown ids are absent."""
        op = "DescribeSourceServers"
        found: dict[str, SourceServerInfo] = {}
        for chunk in chunks(server_ids, ID_CHUNK):
            params = {"filters": {"sourceServerIDs": chunk}}
            for offset, items in self._pages(
                "describe_source_servers", op, params, server_ids=chunk
            ):
                for i, item in enumerate(items):
                    info = parse_source_server(item, operation=op, path=f"items[{offset + i}]")
                    found[info.server_id] = info
        wanted = set(server_ids)
        return {sid: info for sid, info in found.items() if sid in wanted}

    def list_source_servers(self) -> dict[str, SourceServerInfo]:
        """Every source server of the account and region, page after page, no cap (what a
        tag selector is resolved against: DRS has no filter by tag)."""
        op = "DescribeSourceServers"
        found: dict[str, SourceServerInfo] = {}
        for offset, items in self._pages("describe_source_servers", op, {}):
            for i, item in enumerate(items):
                info = parse_source_server(item, operation=op, path=f"items[{offset + i}]")
                found[info.server_id] = info
        return found

    def require_source_servers(self, server_ids: Sequence[str]) -> dict[str, SourceServerInfo]:
        """Like :meth:`describe_source_servers`, but every id must exist (seed Req 2.5)."""
        found = self.describe_source_servers(server_ids)
        missing = [sid for sid in dict.fromkeys(server_ids) if sid not in found]
        if missing:
            raise NotFoundError(
                f"DescribeSourceServers: source server{'s' if len(missing) > 1 else ''} not "
                f"found in this account/region: {', '.join(missing)}",
                operation="DescribeSourceServers",
                server_id=missing[0],
                code="SourceServerNotFound",
            )
        return found

    # --- launching -------------------------------------------------------------------------

    def start_recovery(
        self, server_ids: Sequence[str], *, is_drill: bool, tags: Mapping[str, str]
    ) -> JobInfo:
        """Launch ``server_ids`` from their latest data, as one DRS job; never twice.

        ``recoverySnapshotID`` is omitted, which means the latest data (seed Req 2.1).
        ``tags`` go on the job; a unique ``drsorch:token`` is added unless given.
        After an ambiguous failure (timeout, reset, 5xx) or an unreadable answer, the job
        is looked up by that token and adopted; giving up after an attempt that may have
        reached DRS raises :class:`OutcomeUnknownError`, never a plain "nothing happened".
        """
        ids = list(server_ids)
        if not ids:
            raise ValueError("start_recovery needs at least one server")
        if len(ids) > MAX_SERVERS_PER_JOB:
            raise ValueError(
                f"start_recovery got {len(ids)} servers; DRS allows at most "
                f"{MAX_SERVERS_PER_JOB} per job"
            )
        if len(set(ids)) != len(ids):
            raise ValueError("start_recovery got the same server twice")
        job_tags = dict(tags)
        job_tags.setdefault(TOKEN_TAG, self._token_factory())
        token = job_tags[TOKEN_TAG]
        since = self._retry.clock.now() - JOB_LOOKBACK_SECONDS
        op = "StartRecovery"
        server_id = ids[0] if len(ids) == 1 else None
        params = {
            "sourceServers": [{"sourceServerID": sid} for sid in ids],
            "isDrill": is_drill,
            "tags": job_tags,
        }
        where = describe_target(op, server_id=server_id, server_ids=ids)
        maybe_sent = False  # an earlier attempt may have created the job

        def lookup(cause: AwsError) -> JobInfo | None:
            try:
                found = self.find_job_by_tags({TOKEN_TAG: token}, since)
            except AwsError as lookup_error:
                raise OutcomeUnknownError(
                    f"{where}: outcome unknown: the request failed ({cause}) and looking for "
                    f"its job by tag {TOKEN_TAG}={token} failed too ({lookup_error}); "
                    "check DRS jobs before launching these servers again",
                    operation=op,
                    server_id=server_id,
                    code=cause.code,
                ) from lookup_error
            if found is not None and self._on_lost_answer is not None:
                why = str(cause).removeprefix(f"{where}: ")
                self._on_lost_answer(
                    f"{where}: the answer was lost ({why}); its job {found.job_id} was found "
                    f"by its tag {TOKEN_TAG}={token} and adopted, not launched again"
                )
            return found

        def send() -> JobInfo:
            try:
                response = self._client.start_recovery(**params)
            except ClientError as exc:
                code = (exc.response.get("Error") or {}).get("Code")
                if maybe_sent and code == "ConflictException":
                    raise _JobMayExist(
                        f"{where}: ConflictException after an attempt whose answer was lost: "
                        f"its job probably exists but is not listed yet ({exc})",
                        operation=op,
                        server_id=server_id,
                        code=code,
                    ) from exc
                raise
            return read_job_field(response, operation=op)

        def reconcile(error: AwsError) -> JobInfo | None:
            nonlocal maybe_sent
            if isinstance(error, ThrottledError):
                return None  # a 429 is refused before anything happens
            maybe_sent = True
            return lookup(error)

        try:
            return self._retry.call(
                send, operation=op, server_id=server_id, server_ids=ids, reconcile=reconcile
            )
        except MalformedResponseError as exc:
            # DRS answered, so it most likely created the job; only the answer is unreadable.
            found = lookup(exc)
            if found is not None:
                return found
            raise OutcomeUnknownError(
                f"{where}: outcome unknown: DRS answered but the answer could not be read "
                f"({exc}), and no job tagged {TOKEN_TAG}={token} is listed (yet); look for "
                "it before launching these servers again",
                operation=op,
                server_id=server_id,
                code=exc.code,
            ) from exc
        except RetriesExhaustedError as exc:
            if not maybe_sent:
                raise  # every failure was refused before DRS acted: nothing was launched
            # Some attempt may have reached DRS, and no job with our token is listed (yet):
            # the runner must not relaunch blindly.
            raise OutcomeUnknownError(
                f"{where}: outcome unknown: {exc}; an attempt may have reached DRS, so look "
                f"for a job tagged {TOKEN_TAG}={token} before launching these servers again",
                operation=op,
                server_id=server_id,
                code=exc.code,
            ) from exc

    # --- jobs ------------------------------------------------------------------------------

    def find_job_by_tags(self, tags: Mapping[str, str], since: float) -> JobInfo | None:
        """The newest job created at or after ``since`` (epoch) carrying all of ``tags``."""
        op = "DescribeJobs"
        wanted = dict(tags)
        params = {"filters": {"fromDate": format_iso_time(since)}}
        for offset, items in self._pages("describe_jobs", op, params):
            for i, item in enumerate(items):
                # Match on the raw tags first so an unrelated odd job cannot break the search.
                raw_tags = item.get("tags") if isinstance(item, Mapping) else None
                if not isinstance(raw_tags, Mapping):
                    continue
                if all(raw_tags.get(k) == v for k, v in wanted.items()):
                    return parse_job(item, operation=op, path=f"items[{offset + i}]")
        return None

    def describe_jobs(self, job_ids: Sequence[str]) -> dict[str, JobInfo]:
        """The jobs among ``job_ids``; ids DRS does not return are absent."""
        op = "DescribeJobs"
        found: dict[str, JobInfo] = {}
        for chunk in chunks(job_ids, JOB_ID_CHUNK):
            job_id = chunk[0] if len(chunk) == 1 else None
            params = {"filters": {"jobIDs": chunk}}
            for offset, items in self._pages("describe_jobs", op, params, job_id=job_id):
                for i, item in enumerate(items):
                    job = parse_job(item, operation=op, path=f"items[{offset + i}]")
                    found[job.job_id] = job
        wanted = set(job_ids)
        return {jid: job for jid, job in found.items() if jid in wanted}

    def job_log(self, job_id: str) -> list[JobLogItem]:
        """Every log item of the job, oldest first as DRS returns them."""
        op = "DescribeJobLogItems"
        out: list[JobLogItem] = []
        for offset, items in self._pages(
            "describe_job_log_items", op, {"jobID": job_id}, job_id=job_id
        ):
            for i, item in enumerate(items):
                out.append(parse_job_log_item(item, operation=op, path=f"items[{offset + i}]"))
        return out

    # --- recovery instances ----------------------------------------------------------------

    def describe_recovery_instances(
        self, recovery_instance_ids: Sequence[str]
    ) -> dict[str, RecoveryInstanceInfo]:
        """The recovery instances among the ids; unknown ids are absent."""
        op = "DescribeRecoveryInstances"
        found: dict[str, RecoveryInstanceInfo] = {}
        for chunk in chunks(recovery_instance_ids, ID_CHUNK):
            params = {"filters": {"recoveryInstanceIDs": chunk}}
            for offset, items in self._pages("describe_recovery_instances", op, params):
                for i, item in enumerate(items):
                    info = parse_recovery_instance(item, operation=op, path=f"items[{offset + i}]")
                    found[info.recovery_instance_id] = info
        wanted = set(recovery_instance_ids)
        return {rid: info for rid, info in found.items() if rid in wanted}

    def terminate_recovery_instances(self, recovery_instance_ids: Sequence[str]) -> list[JobInfo]:
        """Start TERMINATE jobs for the instances, 200 per job (drill clean-up).

        Re-sending after a lost answer is harmless here: terminating twice ends the same
        instances, so the normal retry policy applies. DRS answers 409 when an instance is
        already being terminated (or its server is in an active launch job): that is a
        :class:`~drsorch.errors.ConflictError`, never retried; the whole batch is refused,
        so the caller (:mod:`drsorch.cleanup`) retries such a batch one instance at a time.
        """
        op = "TerminateRecoveryInstances"
        jobs: list[JobInfo] = []
        for chunk in chunks(recovery_instance_ids, ID_CHUNK):

            def send(chunk: list[str] = chunk) -> JobInfo:
                response = self._client.terminate_recovery_instances(recoveryInstanceIDs=chunk)
                return read_job_field(response, operation=op)

            jobs.append(self._retry.call(send, operation=op))
        return jobs
