"""Assembling an execution's world: the clock, boto3 session, adapters and identity.

Two worlds, one code path to AWS (invariant 1): :func:`simulated` attaches the simulator
*below* a real boto3 session (botocore's before-send hook), :func:`real_aws` builds an
ordinary session. Either way the engine gets real boto3 clients wrapped in the same
adapters, retry policy and error mapping.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from drsorch.aws.credentials import assumed_role_session, role_account
from drsorch.aws.drs import DrsAdapter
from drsorch.aws.ec2 import Ec2Adapter
from drsorch.aws.errors import map_error
from drsorch.aws.retry import RetryPolicy
from drsorch.aws.session import aws_session, client_config, make_clients, setup_error
from drsorch.aws.sns import SnsAdapter, sns_client
from drsorch.clock import Clock, ScaledClock, VirtualClock
from drsorch.errors import AccessDeniedError, CredentialsError, RefusedError
from drsorch.history import ExecutionRecord
from drsorch.notify import NotifyResult, notify_end
from drsorch.plan import Plan
from drsorch.plan.model import Target
from drsorch.runner import RunOptions

if TYPE_CHECKING:  # pragma: no cover
    from drsorch.sim import Scenario, SimRegion

#: The simulated caller's account when the plan names no target account.
SIM_ACCOUNT_ID = "123456789012"
SIM_REGION = "us-east-1"


#: Announces an execution's end (the runner's ``notify``).
Announcer = Callable[[ExecutionRecord | None], NotifyResult | None]


@dataclass
class World:
    """What a runner needs to run: adapters on one clock, and who/where for the record."""

    drs: DrsAdapter
    ec2: Ec2Adapter
    clock: Clock
    options: RunOptions
    sim: SimRegion | None = None
    #: Tells the plan's SNS topic how the execution ended; None: nobody (no topic, or a
    #: simulated run, which never reaches AWS: invariant 4).
    notify: Announcer | None = None


def _announcer(
    session: Any,
    plan: Plan,
    clock: Clock,
    endpoint_url: str | None,
    on_retry: Callable[..., None] | None = None,
) -> Announcer | None:
    """SNS through the caller's own credentials (not the target role: the notification is
    the caller's). With ``--endpoint-url`` SNS goes there too, unless
    ``AWS_ENDPOINT_URL_SNS`` names another endpoint for it."""
    topic = plan.notifications.sns_topic_arn if plan.notifications else None
    if topic is None:
        return None
    sns_endpoint = None if os.environ.get("AWS_ENDPOINT_URL_SNS") else endpoint_url
    retry = RetryPolicy(clock, on_retry=on_retry)
    adapter = SnsAdapter(sns_client(session, topic, endpoint_url=sns_endpoint), retry)

    def announce(record: ExecutionRecord | None) -> NotifyResult | None:
        if record is None:
            return None
        return notify_end(adapter, topic, record, "aws")

    return announce


def local_user() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name (e.g. a container without /etc/passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


_LOADER: Any = None


def _botocore_session() -> Any:
    """A fresh botocore session sharing one model loader: parsing the EC2 model takes
    ~0.5 s, and simulated runs (tests, benchmarks) create many sessions."""
    global _LOADER
    import botocore.loaders
    import botocore.session

    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    session = botocore.session.Session()
    session.register_component("data_loader", _LOADER)
    return session


class _ScaledFromRun:
    """Real time sped up ``speed`` times, from the wall time at which the run starts.

    Until :meth:`start` it stands still at the wall time it was made at: the time spent
    setting the world up (loading botocore's models, the store, ...) does not run ahead
    ``speed`` times, so the execution's StartTime is the wall time at which it began and
    the history stays in order whatever ``--speed``. :meth:`start` is the run's
    ``RunOptions.start_clock``; the first sleep starts it too."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._held = time.time()
        self._running: ScaledClock | None = None

    def start(self) -> None:
        if self._running is None:  # time only moves forward: never before the held time
            self._running = ScaledClock(self.speed, start=max(time.time(), self._held))

    def now(self) -> float:
        return self._held if self._running is None else self._running.now()

    def sleep(self, seconds: float) -> None:
        self.start()
        assert self._running is not None
        self._running.sleep(seconds)


@dataclass
class SimClients:
    """The DRS and EC2 clients of simulated worlds, made by the first world and re-attached
    to each later world's region (:func:`~drsorch.sim.attach` on a client replaces its
    region). Building a client (EC2 has some 700 operations) costs more than a short
    simulated run; ``drsorch estimate`` runs a plan hundreds of times. The engine's code
    path is unchanged: the same clients, adapters and before-send hook.

    ``direct`` answers the clients' calls with the simulator's direct transport
    (:func:`~drsorch.sim.direct.attach_direct`: at botocore's before-call, with the
    response already parsed; ``drsorch estimate`` uses it), ``verify`` checks each such
    answer against botocore's parse of the wire's (tests). The boto3 session of a world
    without a role to assume is kept too (``session``): making one registers botocore's
    few hundred handlers again."""

    region_name: str | None = None
    drs: Any = None
    ec2: Any = None
    direct: bool = False
    verify: bool = False
    session: Any = None


def _adapters(
    session: Any,
    clock: Clock,
    on_retry: Callable[..., None] | None,
    endpoint_url: str | None = None,
    on_lost_answer: Callable[[str], None] | None = None,
    direct: tuple[SimRegion, SimClients] | None = None,
) -> tuple[DrsAdapter, Ec2Adapter]:
    retry = RetryPolicy(clock, on_retry=on_retry)
    drs_client, ec2_client = make_clients(session, endpoint_url=endpoint_url)
    if direct is not None:
        _attach_sim(direct[1], drs_client, ec2_client, direct[0])
    drs = DrsAdapter(drs_client, retry, on_lost_answer=on_lost_answer)
    return drs, Ec2Adapter(ec2_client, retry)


def _role_session(
    session: Any,
    target: Target,
    execution_id: str,
    clock: Clock,
    endpoint_url: str | None = None,
) -> tuple[Any, str]:
    """The session of the plan's target role (assumed with ``session``'s credentials when
    first needed) and the account it belongs to."""
    assert target.role_arn is not None
    role = assumed_role_session(
        session,
        role_arn=target.role_arn,
        external_id=target.external_id,
        execution_id=execution_id,
        clock=clock,
        endpoint_url=endpoint_url,
    )
    return role, role_account(target.role_arn)


def simulated(
    plan: Plan,
    *,
    scenario_path: str | Path | None = None,
    scenario: Scenario | None = None,
    seed: int | None = None,
    speed: float | None = None,
    clock: Clock | None = None,
    on_retry: Callable[..., None] | None = None,
    on_lost_answer: Callable[[str], None] | None = None,
    clients: SimClients | None = None,
) -> World:
    """A simulated region holding the plan's servers, on a virtual (or sped-up) clock.

    ``seed`` defaults to the scenario's, else 0. A clock made here starts at the wall time:
    a virtual one (no ``speed``) at once, a sped-up one when the run starts (so the
    record's StartTime is the wall time then). Either way simulated time then runs ahead
    of the wall: a simulated record's EndTime may lie in the future.

    ``on_retry`` hears every retried AWS call (:data:`~drsorch.aws.retry.OnRetry`),
    ``on_lost_answer`` every StartRecovery whose answer was lost and whose job was adopted
    (``drsorch run -v``); :func:`real_aws` takes them too. ``clients`` (see
    :class:`SimClients`) are made once and reused by every world given the same ones."""
    import boto3

    from drsorch.sim import Scenario, SimRegion, attach

    if scenario is None:
        scenario = Scenario.from_file(scenario_path) if scenario_path else Scenario()
    start_clock: Callable[[], None] | None = None
    if clock is None:
        # Start at the wall time so simulated runs sort sensibly in the history.
        if speed:
            scaled = _ScaledFromRun(speed)
            clock, start_clock = scaled, scaled.start
        else:
            clock = VirtualClock(start=time.time())
    target = plan.target
    account = target.account_id if target else SIM_ACCOUNT_ID
    region_name = (target.region if target and target.region else None) or SIM_REGION
    # A scenario that declares accounts says where the servers are (servers_account); the
    # engine then signs as the first account, the caller, and reaches the servers the way
    # it would on AWS: through the plan's role.
    accounts = [a.id for a in scenario.accounts]
    region = SimRegion(
        clock=clock,
        scenario=scenario,
        seed=seed,
        account_id=None if accounts else account,
        region_name=region_name,
    )
    if not scenario.source_servers:
        # A scenario that lists source servers defines the region exactly (so a user can
        # rehearse a missing server); otherwise the region holds the plan's servers.
        region.add_source_servers(plan.all_server_ids())
    # Static fake credentials: the simulator answers below boto3, nothing leaves the process.
    kept = clients.session if clients is not None else None
    if kept is not None and kept.region_name == region_name:
        session = kept
    else:
        session = boto3.Session(
            aws_access_key_id="SIMULATOR",
            aws_secret_access_key="SIMULATOR",
            region_name=region_name,
            botocore_session=_botocore_session(),
        )
        if clients is not None:
            clients.session = session
    attach(session, region)
    execution_id = str(uuid.uuid4())
    source = target_account = accounts[0] if accounts else account
    work_session = session
    if accounts and target and target.role_arn:
        work_session, target_account = _role_session(session, target, execution_id, clock)
        attach(work_session, region)
    if clients is not None and work_session is session:  # a role's session: fresh clients
        drs, ec2 = _reused_adapters(clients, session, region, clock, on_retry, on_lost_answer)
    else:
        direct = (region, clients) if clients is not None and clients.direct else None
        drs, ec2 = _adapters(
            work_session, clock, on_retry, on_lost_answer=on_lost_answer, direct=direct
        )
    options = RunOptions(
        execution_id=execution_id,
        initiated_by=local_user(),
        source_account_id=source,
        target_account_id=target_account,
        region=region_name,
        sleep_slice=1.0 if speed else None,
        save_every=0.0 if speed else 3600.0,
        environment="simulator",
        seed=region.seed,
        scenario=None if scenario_path is None else str(scenario_path),
        start_clock=start_clock,
        keep_state=False,
    )
    return World(drs=drs, ec2=ec2, clock=clock, options=options, sim=region)


def _reused_adapters(
    clients: SimClients,
    session: Any,
    region: SimRegion,
    clock: Clock,
    on_retry: Callable[..., None] | None,
    on_lost_answer: Callable[[str], None] | None,
) -> tuple[DrsAdapter, Ec2Adapter]:
    if clients.drs is None or clients.region_name != session.region_name:
        clients.drs, clients.ec2 = make_clients(session)
        clients.region_name = session.region_name
    _attach_sim(clients, clients.drs, clients.ec2, region)
    retry = RetryPolicy(clock, on_retry=on_retry)
    return DrsAdapter(clients.drs, retry, on_lost_answer=on_lost_answer), Ec2Adapter(
        clients.ec2, retry
    )


def _attach_sim(clients: SimClients, drs: Any, ec2: Any, region: SimRegion) -> None:
    """Point ``drs`` and ``ec2`` at ``region``: the wire hook, or the direct transport."""
    from drsorch.sim import attach
    from drsorch.sim.direct import attach_direct

    for client in (drs, ec2):
        if clients.direct:
            attach_direct(client, region, verify=clients.verify)
        else:
            attach(client, region)


def real_aws(
    plan: Plan,
    *,
    profile: str | None,
    region: str | None,
    clock: Clock,
    on_retry: Callable[..., None] | None = None,
    endpoint_url: str | None = None,
    execution_id: str | None = None,
    on_lost_answer: Callable[[str], None] | None = None,
    assume_now: bool = False,
) -> World:
    """AWS through the caller's credentials (``--aws``), or any endpoint that speaks it
    (``--endpoint-url``, ``AWS_ENDPOINT_URL``: the simulator, a test double).

    A plan whose Target names a role (Req 6) runs with that role's credentials only: every
    DRS and EC2 client gets :func:`~drsorch.aws.credentials.assumed_role_session`'s, which
    assume the role at the first call and refresh it on ``clock``. The caller's own
    credentials only tell who is running (STS GetCallerIdentity).

    ``assume_now`` (``resume``, ``cleanup``: an execution already recorded) assumes the role
    here, so a role that cannot be assumed (a mistyped ``--external-id``) is refused before
    the record is touched: CredentialsError, exit 2. A new run learns it at its first call
    and ends FAILED before anything is launched, as Req 6 asks."""
    target = plan.target
    region_name = region or (target.region if target else None)
    execution_id = execution_id or str(uuid.uuid4())
    try:
        session = aws_session(profile, region_name)
        if not session.region_name:
            raise RefusedError("no AWS region: pass --region, set Target.Region, or configure one")
        sts = session.client("sts", endpoint_url=endpoint_url, config=client_config())
    except BotoCoreError as exc:  # the profile, config files or region cannot be used
        raise setup_error(exc) from exc
    except ValueError as exc:
        if not _bad_endpoint(exc):
            raise
        raise RefusedError(f"cannot use this AWS endpoint: {exc}") from exc
    identity = caller_identity(sts)
    caller = identity["Account"]
    work_session, target_account = session, caller
    if target and target.role_arn:
        work_session, target_account = _role_session(
            session, target, execution_id, clock, endpoint_url
        )
        if assume_now:
            _assume(work_session, target)
    elif target and target.account_id != caller:
        raise RefusedError(
            f"the plan's Target.AccountId is {target.account_id}, but these credentials are "
            f"for account {caller} and the plan names no Target.RoleArn to assume there"
        )
    try:
        drs, ec2 = _adapters(work_session, clock, on_retry, endpoint_url, on_lost_answer)
        announce = _announcer(session, plan, clock, endpoint_url, on_retry)
    except BotoCoreError as exc:
        raise setup_error(exc) from exc
    except ValueError as exc:
        if not _bad_endpoint(exc):
            raise
        raise RefusedError(f"cannot use this AWS endpoint: {exc}") from exc
    options = RunOptions(
        initiated_by=identity["Arn"],
        source_account_id=caller,
        target_account_id=target_account,
        region=session.region_name,
        sleep_slice=1.0,
        execution_id=execution_id,
        endpoint_url=_endpoint(endpoint_url),
    )
    return World(drs=drs, ec2=ec2, clock=clock, options=options, notify=announce)


def _assume(role_session: Any, target: Target) -> None:
    """Assume the target role now; CredentialsError (exit 2) naming AWS's reason if not."""
    try:
        role_session.get_credentials().get_frozen_credentials()
    except (BotoCoreError, ClientError) as exc:
        err = map_error(exc, operation="AssumeRole")
        raise CredentialsError(
            f"cannot assume {target.role_arn}, so nothing was changed: {err}"
        ) from exc


def _endpoint(endpoint_url: str | None) -> str | None:
    """Where DRS calls go, for the record: ``--endpoint-url``, else the endpoint botocore
    takes from the environment, else None (AWS's own endpoints)."""
    return (
        endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_DRS")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def _bad_endpoint(exc: ValueError) -> bool:
    """Whether botocore refused an endpoint URL it cannot use (``AWS_ENDPOINT_URL[_<SERVICE>]``
    reach it past the option parser): bad input, exit 2. Any other ValueError is a bug of
    ours and stays one."""
    return str(exc).startswith("Invalid endpoint")


def caller_identity(sts: Any) -> dict[str, Any]:
    """Who the credentials are (STS GetCallerIdentity), before anything else is called.

    Everything that can go wrong here — no or expired credentials, an SSO login to renew, a
    region without endpoint, STS out of reach — is the operator's environment, not a bug of
    drsorch: a :class:`CredentialsError` or a :class:`RefusedError` (exit 2), and nothing
    was started. Only an error of drsorch's own code propagates as it is."""
    try:
        identity: dict[str, Any] = sts.get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        err = map_error(exc, operation="GetCallerIdentity")
        if isinstance(err, CredentialsError | AccessDeniedError):
            raise CredentialsError(f"cannot tell who you are in AWS: {err}") from exc
        raise RefusedError(
            f"cannot tell who you are in AWS, so nothing was started: {err}"
        ) from exc
    return identity
