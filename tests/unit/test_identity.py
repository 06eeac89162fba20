"""Token verification and issuance (core/identity.py) without a server: every refusal with
its exact code and message, and every claim as the identity carries it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.config import ClaimNames, Settings
from core.errors import ConfigError, ErrorCode, LvngError
from core.identity import MAX_EXP, Identity, TokenVerifier, is_valid_id, issue_token

SECRET = "unit-secret-0123456789abcdef0123456789abcdef"


def token(
    claims: dict | None = None,
    *,
    secret: str = SECRET,
    alg: str = "HS256",
    ttl: float = 60,
    **extra,
) -> str:
    payload = {"sub": "alice", "org": "acme", "exp": int(time.time() + ttl), **extra}
    payload.update(claims or {})
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm=alg)


def hs256_signed_with(key_text: str) -> str:
    """An HS256 token whose HMAC key is `key_text` (PyJWT refuses to make one from a PEM
    key, which is the point of algorithm confusion)."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "alice", "org": "acme", "exp": int(time.time()) + 60}).encode())
    signature = hmac.new(key_text.encode(), header + b"." + body, hashlib.sha256).digest()
    return (header + b"." + body + b"." + b64(signature)).decode()


def verifier(**settings) -> TokenVerifier:
    return TokenVerifier(Settings(jwt_secret=SECRET, **settings))


def refusal(v: TokenVerifier, value) -> tuple[str, str]:
    with pytest.raises(LvngError) as caught:
        v.verify(value)
    return caught.value.code.value, caught.value.message


def test_a_good_token_gives_its_identity():
    exp = int(time.time()) + 60
    identity = verifier().verify(
        token(
            {
                "exp": exp,
                "name": "  Alice A.  ",
                "customers": ["c1", "c2"],
                "roles": "admin service",
            }
        )
    )
    assert identity == Identity(
        "alice",
        "acme",
        "Alice A.",
        frozenset({"c1", "c2"}),
        frozenset({"admin", "service"}),
        float(exp),
    )
    assert isinstance(identity.expires_at, float)
    assert identity.is_admin and identity.is_service


def test_defaults_when_optional_claims_are_absent_or_blank():
    identity = verifier().verify(token())
    assert (identity.user_name, identity.customers, identity.roles) == (
        "alice",
        frozenset(),
        frozenset(),
    )
    assert not identity.is_admin and not identity.is_service
    assert verifier().verify(token({"name": "   "})).user_name == "alice"
    assert verifier().verify(token({"name": 42})).user_name == "alice"
    assert verifier().verify(token({"name": "n" * 200})).user_name == "n" * 128


def test_customers_and_roles_may_be_comma_or_space_separated():
    identity = verifier().verify(token({"customers": "c1,c2  c3,,", "roles": ""}))
    assert identity.customers == frozenset({"c1", "c2", "c3"})
    assert identity.roles == frozenset()


@pytest.mark.parametrize(
    "claims",
    [{"customers": [1, 2]}, {"roles": {"admin": True}}, {"customers": ["c1", None]}, {"roles": 7}],
)
def test_customers_and_roles_of_another_shape_are_refused(claims):
    assert refusal(verifier(), token(claims)) == (
        "AUTH_INVALID",
        "customers and roles claims must be lists of strings",
    )


def test_a_fractional_exp_is_kept():
    exp = time.time() + 30.25
    assert verifier().verify(token({"exp": exp})).expires_at == exp


def test_missing_and_malformed_tokens():
    v = verifier()
    assert refusal(v, None) == ("AUTH_REQUIRED", "a JWT is required in auth.token")
    assert refusal(v, "") == ("AUTH_REQUIRED", "a JWT is required in auth.token")
    assert refusal(v, 42) == ("AUTH_INVALID", "the token must be a string")
    assert refusal(v, ["a"]) == ("AUTH_INVALID", "the token must be a string")
    assert refusal(v, "not-a-jwt") == ("AUTH_INVALID", "the token is not a JWT")


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_only_the_configured_algorithms_pass(alg):
    assert refusal(verifier(), token(alg=alg)) == (
        "AUTH_INVALID",
        f"algorithm '{alg}' is not accepted",
    )
    assert verifier(jwt_algorithms=["HS256", alg]).verify(token(alg=alg)).user_id == "alice"


def test_alg_none_is_refused():
    unsigned = jwt.encode(
        {"sub": "alice", "org": "acme", "exp": int(time.time()) + 60}, None, algorithm="none"
    )
    assert refusal(verifier(), unsigned) == ("AUTH_INVALID", "algorithm 'none' is not accepted")


def test_signature_expiry_and_exp_claim():
    v = verifier()
    assert refusal(v, token(secret="another-secret-0123456789abcdef0123")) == (
        "AUTH_INVALID",
        "the token signature is invalid",
    )
    assert refusal(v, token(ttl=-1)) == ("TOKEN_EXPIRED", "the token has expired")
    assert refusal(v, token({"exp": None})) == ("AUTH_INVALID", "the token has no exp claim")
    code, message = refusal(v, token({"exp": "soon"}))
    assert code == "AUTH_INVALID" and message.startswith("the token is invalid: ")
    # PyJWT takes a numeric string for exp; the identity needs a number.
    assert refusal(v, token({"exp": str(int(time.time()) + 60)})) == (
        "AUTH_INVALID",
        "the token's exp claim is not a number",
    )


def test_exp_must_be_a_date_before_the_year_10000():
    v = verifier()
    assert v.verify(token({"exp": MAX_EXP - 1})).expires_at == MAX_EXP - 1
    for exp in (MAX_EXP, 10**30):
        assert refusal(v, token({"exp": exp})) == (
            "AUTH_INVALID",
            "the token's exp claim is out of range",
        )
    # PyJWT itself refuses what is not a finite number.
    for claim in ("exp", "nbf", "iat"):
        code, message = refusal(v, token({claim: float("inf")}))
        assert code == "AUTH_INVALID" and message.startswith("the token is invalid: ")


def test_leeway_allows_a_recently_expired_token():
    assert verifier(jwt_leeway=30).verify(token(ttl=-5)).user_id == "alice"
    assert refusal(verifier(jwt_leeway=3), token(ttl=-10))[0] == "TOKEN_EXPIRED"


def test_not_before_in_the_future_is_refused():
    code, message = refusal(verifier(), token(nbf=int(time.time()) + 600))
    assert code == "AUTH_INVALID" and message.startswith("the token is invalid: ")


def test_audience_and_issuer():
    v = verifier(jwt_audience="lvng", jwt_issuer="idp")
    assert v.verify(token(aud="lvng", iss="idp")).user_id == "alice"
    assert refusal(v, token(aud="other", iss="idp")) == (
        "AUTH_INVALID",
        "the token is for another audience",
    )
    assert refusal(v, token(aud="lvng", iss="evil")) == (
        "AUTH_INVALID",
        "the token has another issuer",
    )
    assert refusal(v, token(iss="idp"))[0] == "AUTH_INVALID"  # no aud at all
    # Without an expected audience, a token naming one is refused too (PyJWT's rule).
    assert refusal(verifier(), token(aud="lvng"))[0] == "AUTH_INVALID"


@pytest.mark.parametrize(
    "claim, value",
    [
        ("sub", None),
        ("sub", ""),
        ("sub", "a/b"),
        ("sub", "x" * 129),
        ("org", None),
        ("org", "a b"),
        ("org", ["acme"]),
    ],
)
def test_user_and_organization_must_be_ids(claim, value):
    code, message = refusal(verifier(), token({claim: value}))
    assert code == "AUTH_INVALID"
    assert message == f"the token's {claim} claim is missing or not a valid id"


def test_mapped_claim_names():
    names = ClaimNames(
        user_id="uid",
        organization_id="tenant",
        user_name="display",
        customers="accounts",
        roles="groups",
    )
    v = verifier(auth_claims=names)
    identity = v.verify(
        token(
            {
                "sub": None,
                "org": None,
                "uid": "u9",
                "tenant": "t1",
                "display": "U Nine",
                "accounts": ["a1"],
                "groups": ["admin"],
            }
        )
    )
    assert identity == Identity(
        "u9", "t1", "U Nine", frozenset({"a1"}), frozenset({"admin"}), identity.expires_at
    )
    assert refusal(v, token()) == (
        "AUTH_INVALID",
        "the token's uid claim is missing or not a valid id",
    )
    assert refusal(v, token({"uid": "u9"})) == (
        "AUTH_INVALID",
        "the token's tenant claim is missing or not a valid id",
    )


@pytest.fixture
def es256_key(tmp_path: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "public.pem"
    path.write_bytes(pem)
    return key, path, pem.decode()


def test_public_key_algorithms_verify_with_the_public_key(es256_key):
    key, path, pem = es256_key
    v = TokenVerifier(Settings(jwt_public_key=path, jwt_algorithms=["ES256"]))
    assert v.public_key == pem and v.secret is None
    assert v.verify(token(secret=key, alg="ES256")).user_id == "alice"
    # HS256 signed with the public key's text (algorithm confusion) is not accepted.
    assert refusal(v, hs256_signed_with(pem)) == (
        "AUTH_INVALID",
        "algorithm 'HS256' is not accepted",
    )


def test_an_accepted_algorithm_without_its_key_is_refused(es256_key):
    key, path, pem = es256_key
    hs_only = TokenVerifier(Settings(jwt_public_key=path, jwt_algorithms=["HS256", "ES256"]))
    assert refusal(hs_only, token(alg="HS256")) == (
        "AUTH_INVALID",
        "algorithm HS256 is not configured",
    )
    both = TokenVerifier(
        Settings(jwt_secret=SECRET, jwt_public_key=path, jwt_algorithms=["HS256", "ES256"])
    )
    assert both.verify(token(alg="HS256")).user_id == "alice"
    assert both.verify(token(secret=key, alg="ES256")).user_id == "alice"
    # An HS256 token signed with the public key text fails its signature: the secret is
    # the HS key.
    assert refusal(both, hs256_signed_with(pem)) == (
        "AUTH_INVALID",
        "the token signature is invalid",
    )
    secret_only = TokenVerifier(Settings(jwt_secret=SECRET, jwt_algorithms=["HS256"]))
    assert secret_only.public_key is None


@pytest.mark.parametrize(
    "value, valid",
    [
        ("a", True),
        ("x" * 128, True),
        ("A-z_0.9:x", True),
        ("", False),
        ("x" * 129, False),
        ("a/b", False),
        ("a b", False),
        ("é", False),
        ("a\n", False),
        (None, False),
        (5, False),
        (["a"], False),
    ],
)
def test_is_valid_id(value, valid):
    assert is_valid_id(value) is valid


def test_customer_access_is_listed_customers_or_admin():
    plain = Identity("u", "o", "u", frozenset({"c1"}), frozenset({"service"}), 0.0)
    assert plain.may_access_customer("c1") and not plain.may_access_customer("c2")
    assert plain.is_service and not plain.is_admin
    admin = Identity("u", "o", "u", frozenset(), frozenset({"admin"}), 0.0)
    assert admin.may_access_customer("anyone")
    assert admin.is_admin and not admin.is_service


def test_issued_tokens_verify_and_carry_every_claim():
    settings = Settings(jwt_secret=SECRET, jwt_audience="lvng", jwt_issuer="idp")
    before = int(time.time())
    issued = issue_token(
        settings,
        user_id="bob",
        organization_id="acme",
        name="Bob",
        customers=["c1"],
        roles=["admin"],
        ttl=120,
        extra={"team": "x"},
    )
    claims = jwt.decode(issued, SECRET, algorithms=["HS256"], audience="lvng")
    assert jwt.get_unverified_header(issued)["alg"] == "HS256"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 120
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp")} == {
        "sub": "bob",
        "org": "acme",
        "name": "Bob",
        "customers": ["c1"],
        "roles": ["admin"],
        "aud": "lvng",
        "iss": "idp",
        "team": "x",
    }
    identity = TokenVerifier(settings).verify(issued)
    assert (identity.user_id, identity.user_name, identity.roles) == (
        "bob",
        "Bob",
        frozenset({"admin"}),
    )


def test_issued_tokens_leave_out_what_is_not_given_and_use_mapped_names():
    settings = Settings(
        jwt_secret=SECRET,
        jwt_algorithms=["HS512"],
        auth_claims=ClaimNames(user_id="uid", organization_id="tenant"),
    )
    issued = issue_token(settings, user_id="bob", organization_id="acme")
    assert jwt.get_unverified_header(issued)["alg"] == "HS512"
    claims = jwt.decode(issued, SECRET, algorithms=["HS512"])
    assert set(claims) == {"uid", "tenant", "iat", "exp"}
    assert claims["exp"] - claims["iat"] == 3600


def test_issuing_needs_an_hs_secret(es256_key):
    _, path, _ = es256_key
    with pytest.raises(ConfigError) as caught:
        issue_token(
            Settings(jwt_public_key=path, jwt_algorithms=["ES256"]),
            user_id="u",
            organization_id="o",
        )
    assert str(caught.value) == (
        "lvng token needs LVNG_JWT_SECRET (an HS256 secret) to sign tokens"
    )
    with pytest.raises(ConfigError) as caught:
        issue_token(
            Settings(jwt_secret=SECRET, jwt_public_key=path, jwt_algorithms=["ES256"]),
            user_id="u",
            organization_id="o",
        )
    assert str(caught.value) == "LVNG_JWT_ALGORITHMS names no HS algorithm to sign with"


def test_error_codes_are_the_contracts():
    assert {
        c.value for c in (ErrorCode.AUTH_REQUIRED, ErrorCode.AUTH_INVALID, ErrorCode.TOKEN_EXPIRED)
    } == {"AUTH_REQUIRED", "AUTH_INVALID", "TOKEN_EXPIRED"}
