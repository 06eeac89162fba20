"""Who a client is: JWT verification (contract section 2) and token issuance for the CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
from jwt.types import Options

from core.config import Settings
from core.errors import ConfigError, ErrorCode, LvngError

ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
MAX_EXP = 253_402_300_800  # 10000-01-01T00:00:00Z: an `exp` must be a date before it


@dataclass(frozen=True, slots=True)
class Identity:
    """The verified identity of a connection or HTTP request; never taken from a payload."""

    user_id: str
    organization_id: str
    user_name: str
    customers: frozenset[str]
    roles: frozenset[str]
    expires_at: float

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return "service" in self.roles

    def may_access_customer(self, customer_id: str) -> bool:
        """A user may open a customer's conversations and feed if listed, or as an org admin."""
        return customer_id in self.customers or self.is_admin


_ID_RE = re.compile(ID_PATTERN)


def is_valid_id(value: Any) -> TypeGuard[str]:
    """An id of the contract's shape: 1 to 128 of `[A-Za-z0-9_.:-]`."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def _string_set(value: Any) -> frozenset[str] | None:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


class TokenVerifier:
    """Verifies JWTs with the configured key and algorithms only; `none` never passes."""

    def __init__(self, settings: Settings) -> None:
        self.algorithms = list(settings.jwt_algorithms)
        self.secret = settings.jwt_secret
        self.public_key = settings.jwt_public_key.read_text() if settings.jwt_public_key else None
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.leeway = settings.jwt_leeway
        self.claims = settings.auth_claims

    def _key_for(self, alg: str) -> str:
        key = self.secret if alg.startswith("HS") else self.public_key
        if key is None:
            raise LvngError(ErrorCode.AUTH_INVALID, f"algorithm {alg} is not configured")
        return key

    def verify(self, token: Any) -> Identity:
        """Return the identity in `token`, or raise LvngError with an AUTH_* / TOKEN_* code."""
        if token is None or token == "":
            raise LvngError(ErrorCode.AUTH_REQUIRED, "a JWT is required in auth.token")
        if not isinstance(token, str):
            raise LvngError(ErrorCode.AUTH_INVALID, "the token must be a string")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise LvngError(ErrorCode.AUTH_INVALID, "the token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise LvngError(ErrorCode.AUTH_INVALID, f"algorithm {alg!r} is not accepted")
        options: Options = {"require": ["exp"]}
        try:
            claims = jwt.decode(
                token,
                self._key_for(alg),
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise LvngError(ErrorCode.TOKEN_EXPIRED, "the token has expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise LvngError(ErrorCode.AUTH_INVALID, f"the token has no {exc.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise LvngError(ErrorCode.AUTH_INVALID, "the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise LvngError(ErrorCode.AUTH_INVALID, "the token has another issuer") from None
        except jwt.InvalidSignatureError:
            raise LvngError(ErrorCode.AUTH_INVALID, "the token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise LvngError(ErrorCode.AUTH_INVALID, f"the token is invalid: {exc}") from None
        except (OverflowError, ValueError, TypeError):  # e.g. an `iat` of Infinity
            raise LvngError(ErrorCode.AUTH_INVALID, "the token's claims are invalid") from None
        return self._identity(claims)

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        names = self.claims
        user_id = claims.get(names.user_id)
        org_id = claims.get(names.organization_id)
        if not is_valid_id(user_id):
            raise LvngError(
                ErrorCode.AUTH_INVALID,
                f"the token's {names.user_id} claim is missing or not a valid id",
            )
        if not is_valid_id(org_id):
            raise LvngError(
                ErrorCode.AUTH_INVALID,
                f"the token's {names.organization_id} claim is missing or not a valid id",
            )
        name = claims.get(names.user_name)
        user_name = name if isinstance(name, str) and name.strip() else user_id
        customers = _string_set(claims.get(names.customers))
        roles = _string_set(claims.get(names.roles))
        if customers is None or roles is None:
            raise LvngError(
                ErrorCode.AUTH_INVALID, "customers and roles claims must be lists of strings"
            )
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise LvngError(ErrorCode.AUTH_INVALID, "the token's exp claim is not a number")
        if not exp < MAX_EXP:  # also NaN; a later exp cannot be written as a date
            raise LvngError(ErrorCode.AUTH_INVALID, "the token's exp claim is out of range")
        return Identity(
            user_id=user_id,
            organization_id=org_id,
            user_name=user_name.strip()[:128],
            customers=customers,
            roles=roles,
            expires_at=float(exp),
        )


def issue_token(
    settings: Settings,
    *,
    user_id: str,
    organization_id: str,
    name: str | None = None,
    customers: Iterable[str] = (),
    roles: Iterable[str] = (),
    ttl: int = 3600,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Sign a token for the configured secret (HS algorithms only), with the mapped claims."""
    if settings.jwt_secret is None:
        raise ConfigError("lvng token needs LVNG_JWT_SECRET (an HS256 secret) to sign tokens")
    alg = next((a for a in settings.jwt_algorithms if a.startswith("HS")), None)
    if alg is None:
        raise ConfigError("LVNG_JWT_ALGORITHMS names no HS algorithm to sign with")
    names = settings.auth_claims
    now = int(time.time())
    claims: dict[str, Any] = {
        names.user_id: user_id,
        names.organization_id: organization_id,
        "iat": now,
        "exp": now + ttl,
    }
    if name:
        claims[names.user_name] = name
    if customers:
        claims[names.customers] = list(customers)
    if roles:
        claims[names.roles] = list(roles)
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    claims.update(extra or {})
    return jwt.encode(claims, settings.jwt_secret, algorithm=alg)
