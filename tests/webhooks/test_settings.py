"""The endpoints' settings checked at start (exit 2, one line), the signature against the
`standardwebhooks` library, and the backoff's bounds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from plugins.webhooks.courier import Courier
from plugins.webhooks.settings import WebhooksSettings
from plugins.webhooks.signing import headers
from tests.test_cli import run_lvng
from tests.webhooks.support import SECRET


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ('url = "http://x/"\nsecret = "abc"', "must start with whsec_"),
        ('url = "http://x/"\nsecret = "whsec_not base64!"', "must be whsec_ followed by base64"),
        ('url = "http://x/"\nsecret = "whsec_c2hvcnQ="', "at least 16 bytes"),
        (f'url = "ftp://x/"\nsecret = "{SECRET}"', "url"),
        (f'url = "http://x/"\nsecret = "{SECRET}"\nevents = []', "at least one event"),
        (f'url = "http://x/"\nsecret = "{SECRET}"\ncolour = "red"', "colour"),
    ],
)
def test_a_bad_endpoint_stops_the_start_with_one_line(
    tmp_path: Path, endpoint: str, problem: str
) -> None:
    (tmp_path / "lvng.toml").write_text(f"[[plugins.webhooks.endpoints]]\n{endpoint}\n")
    result = run_lvng(
        "serve",
        "--port",
        "1",
        "--config",
        str(tmp_path / "lvng.toml"),
        cwd=tmp_path,
        env={"LVNG_JWT_SECRET": "x" * 40},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "webhooks" in lines[0] and problem in lines[0], lines


def test_two_endpoints_need_two_names() -> None:
    one = {"url": "http://a/", "secret": SECRET}
    with pytest.raises(ValueError, match="give each a name"):
        WebhooksSettings(endpoints=[one, one])  # type: ignore[list-item]
    WebhooksSettings(endpoints=[one, {**one, "name": "second"}])  # type: ignore[list-item]


def test_the_signature_verifies_with_standardwebhooks() -> None:
    body = '{"id":"evt_1","type":"message.created","organizationId":"acme","data":{"é":1}}'
    sent = headers(SECRET, "evt_1", int(time.time()), body)
    assert Webhook(SECRET).verify(body.encode(), sent)["data"] == {"é": 1}
    assert sent["webhook-id"] == "evt_1" and sent["webhook-signature"].startswith("v1,")


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    settings = WebhooksSettings(retry_initial_seconds=5, retry_max_seconds=3600)
    courier: Any = Courier.__new__(Courier)
    courier.settings = settings
    for attempts, base in [(1, 5), (2, 10), (3, 20), (8, 640)]:
        delays = [courier.backoff(attempts) for _ in range(200)]
        assert base * 0.8 <= min(delays) and max(delays) <= base * 1.2
        assert max(delays) - min(delays) > base * 0.1  # jittered
    assert all(courier.backoff(a) <= 3600 for a in (10, 11, 50, 1000))
