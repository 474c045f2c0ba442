"""Accounts, access keys, roles and STS credentials of the simulated partition (issue 8).

:class:`Directory` answers two questions for the wire layer:

- *who signed this call?* (:meth:`Directory.identify`): the access key id of the SigV4
  ``Authorization`` header maps to an account. A static key declared for an account signs
  as that account's IAM user; a key STS issued (:meth:`Directory.assume_role`) signs as the
  assumed role in the role's account until it expires on the simulated clock. When the
  scenario declares no accounts, there is one account and every key is accepted; when the
  first declared account lists no keys, it accepts every key STS did not issue (the caller,
  whatever it is configured with).
- *may this caller assume that role?* (:meth:`Directory.assume_role`): the role must be
  declared, trust the caller's account and, when its trust says so, get the right
  ExternalId; the duration must fit the role's maximum (and one hour for role chaining).
  Refusals are worded as STS words them.

The simulator does not verify signatures: a secret is never checked. Session tokens are
(an issued key with another token is refused as an invalid token), and so is expiry.
Issued credentials come from a seeded stream, so a replay issues the same keys.
"""

from __future__ import annotations

import hashlib
import math
import string
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from drsorch.sim.errors import SimApiError
from drsorch.sim.scenario import ROLE_ARN_RE, RoleSpec, Scenario
from drsorch.sim.timing import stable_rng

#: The account of a scenario without ``accounts`` (and of ``SimRegion()``).
DEFAULT_ACCOUNT = "123456789012"
#: The IAM user a key that no account lists signs as.
DEFAULT_USER = "simulator"
#: Issued credentials remembered at most; beyond it the oldest are forgotten (a key STS no
#: longer knows is an invalid token, as it would be on AWS long after it expired).
MAX_ISSUED = 100_000
#: AssumeRole's DurationSeconds when the caller gives none, and the most a chained
#: assumption (a role assuming a role) may ask for.
DEFAULT_DURATION = 3600
CHAINED_MAX = 3600

_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class AuthProblem(StrEnum):
    """Why a call's credentials are refused."""

    UNRECOGNIZED = "unrecognized"  # no such key, or an issued key with another token
    EXPIRED = "expired"  # issued credentials past their Expiration


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed a call, as GetCallerIdentity shows it."""

    account_id: str
    arn: str  # arn:aws:iam::ACCT:user/NAME or arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
    user_id: str  # AIDA... for a user, AROA...:SESSION for an assumed role
    role_arn: str | None = None  # set for assumed-role credentials
    expires: float | None = None  # simulated epoch seconds; set for assumed-role credentials

    @property
    def assumed(self) -> bool:
        return self.role_arn is not None


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """One AssumeRole answer, as the simulator remembers it."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    identity: Identity
    issued_at: float


def _unique_id(prefix: str, *parts: str) -> str:
    """IAM's unique ids (AIDA... users, AROA... roles): 21 characters, stable per name."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=32).digest()
    return prefix + "".join(_KEY_ALPHABET[b % len(_KEY_ALPHABET)] for b in digest)[:17]


def user_identity(account_id: str, user: str) -> Identity:
    return Identity(
        account_id=account_id,
        arn=f"arn:aws:iam::{account_id}:user/{user}",
        user_id=_unique_id("AIDA", account_id, user),
    )


def access_denied(caller: Identity, action: str, resource: str | None = None) -> SimApiError:
    """STS's AccessDenied, worded as AWS words it."""
    on = f" on resource: {resource}" if resource else ""
    return SimApiError(
        "AccessDenied", f"User: {caller.arn} is not authorized to perform: {action}{on}", 403
    )


def sts_validation(message: str) -> SimApiError:
    return SimApiError("ValidationError", message, 400)


class Directory:
    """The accounts, keys, roles and issued credentials of a simulated region."""

    def __init__(self, scenario: Scenario, account_id: str | None = None, seed: int = 0) -> None:
        #: How a simulated time is told to clients (see SimRegion: real time under --speed).
        self.reported_time: Callable[[float], float] = lambda t: t
        self.declared = bool(scenario.accounts)
        if self.declared:
            ids = [a.id for a in scenario.accounts]
            if account_id is not None and account_id not in ids:
                raise ValueError(
                    f"account {account_id} is not one of the scenario's accounts "
                    f"({', '.join(ids)}); leave account_id out to use servers_account"
                )
            self.account_ids = ids
            self.servers_account = account_id or scenario.servers_account or ids[0]
            self.open = not scenario.accounts[0].access_keys
        else:
            self.account_ids = [account_id or DEFAULT_ACCOUNT]
            self.servers_account = self.account_ids[0]
            self.open = True
        #: the account a key no account lists signs as (when :attr:`open`)
        self.caller_account = self.account_ids[0]
        self._anonymous = user_identity(self.caller_account, DEFAULT_USER)
        self._static: dict[str, Identity] = {
            key.id: user_identity(account.id, key.user)
            for account in scenario.accounts
            for key in account.access_keys
        }
        self.roles: dict[str, RoleSpec] = {role.arn: role for role in scenario.roles}
        self._issued: dict[str, IssuedCredentials] = {}
        self._rng = stable_rng(seed, "sts")

    # --- who signed -------------------------------------------------------------------

    def identify(
        self, access_key: str | None, session_token: str | None, now: float
    ) -> tuple[Identity | None, AuthProblem | None]:
        """The identity behind a call's access key, or why its credentials are refused
        (for expired credentials, the identity they belonged to comes along)."""
        if access_key:
            issued = self._issued.get(access_key)
            if issued is not None:
                if session_token != issued.session_token:
                    return None, AuthProblem.UNRECOGNIZED
                identity = issued.identity
                if identity.expires is not None and now >= identity.expires:
                    return identity, AuthProblem.EXPIRED
                return identity, None
            static = self._static.get(access_key)
            if static is not None:
                return static, None
        if self.open:
            return self._anonymous, None
        return None, AuthProblem.UNRECOGNIZED

    @property
    def issued(self) -> list[IssuedCredentials]:
        """Credentials AssumeRole handed out (oldest first; at most :data:`MAX_ISSUED`)."""
        return list(self._issued.values())

    # --- AssumeRole -------------------------------------------------------------------

    def assume_role(self, caller: Identity, params: dict[str, Any], now: float) -> dict[str, Any]:
        """AssumeRole for ``caller``: the response body, or the error STS answers.

        ``params`` already passed the model's constraints (lengths, patterns, ranges)."""
        role_arn: str = params["RoleArn"]
        session: str = params["RoleSessionName"]
        duration = int(params.get("DurationSeconds", DEFAULT_DURATION))
        match = ROLE_ARN_RE.fullmatch(role_arn)
        if match is None:
            raise sts_validation(f"{role_arn} is invalid")
        role = self.roles.get(role_arn)
        # AWS answers the same for a role that does not exist, one that does not trust the
        # caller and a missing or wrong ExternalId: nothing tells them apart.
        if role is None or caller.account_id not in role.trust.accounts:
            raise access_denied(caller, "sts:AssumeRole", role_arn)
        wanted = role.trust.external_id
        if wanted is not None and params.get("ExternalId") != wanted:
            raise access_denied(caller, "sts:AssumeRole", role_arn)
        if caller.assumed and duration > CHAINED_MAX:
            raise sts_validation(
                "The requested DurationSeconds exceeds the 1 hour session limit "
                "for roles assumed by role chaining."
            )
        if duration > role.max_session_seconds:
            raise sts_validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        expires = float(math.floor(now + duration))  # STS writes whole seconds
        role_id = _unique_id("AROA", role_arn)
        identity = Identity(
            account_id=role.account_id,
            arn=f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session}",
            user_id=f"{role_id}:{session}",
            role_arn=role_arn,
            expires=expires,
        )
        issued = self._issue(identity, now)
        body: dict[str, Any] = {
            "Credentials": {
                "AccessKeyId": issued.access_key_id,
                "SecretAccessKey": issued.secret_access_key,
                "SessionToken": issued.session_token,
                "Expiration": self.reported_time(expires),
            },
            "AssumedRoleUser": {"AssumedRoleId": identity.user_id, "Arn": identity.arn},
        }
        if params.get("SourceIdentity"):
            body["SourceIdentity"] = params["SourceIdentity"]
        return body

    def _issue(self, identity: Identity, now: float) -> IssuedCredentials:
        rng = self._rng
        while True:
            key = "ASIA" + "".join(rng.choices(_KEY_ALPHABET, k=16))
            if key not in self._issued and key not in self._static:
                break
        secret = "".join(rng.choices(_SECRET_ALPHABET, k=40))
        token = "IQoJb3JpZ2luX2VjE" + "".join(rng.choices(_SECRET_ALPHABET, k=300))
        issued = IssuedCredentials(key, secret, token, identity, now)
        while len(self._issued) >= MAX_ISSUED:
            del self._issued[next(iter(self._issued))]
        self._issued[key] = issued
        return issued
